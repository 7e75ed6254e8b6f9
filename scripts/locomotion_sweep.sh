#!/usr/bin/env bash
# The CPU locomotion experiment (docs/locomotion.md) as a chain of resumable sweeps in the order
# the comparison needs them: SAC (the baseline every FPMD number is held to), FPMD-M, TD3, then
# FPMD-R (its optional Hopper program is the most expensive, so it comes last); each over half_cheetah then hopper,
# 3 seeds on the run axis, configs/quick_locomotion.yaml, 310k env steps per run.
# Each algorithm is its own sweep directory runs/locomotion/<algo> (scripts/sweep.py runs
# programs in --envs x --algos order, so one sweep per algorithm puts the cheap ones first).
# Rerun this script after a stop: a directory that holds a sweep continues with --resume
# (finished programs are skipped). On a shared CPU start it niced and detached:
#   setsid nohup nice -n 19 bash scripts/locomotion_sweep.sh > runs/locomotion.log 2>&1 &
# ALGOS / ENVS / STEPS / OUT may be overridden from the environment.
cd "$(dirname "$0")/.."
# Where Linux groups each session for scheduling (autogroup), nice only ranks the processes of
# this session against each other: lower the whole group too, so the sweep yields the CPU.
[ -w /proc/self/autogroup ] && echo 19 > /proc/self/autogroup 2>/dev/null
PY=${PY:-.venv/bin/python}
OUT=${OUT:-runs/locomotion}
ENVS=${ENVS:-half_cheetah,hopper}
STEPS=${STEPS:-310000}
mkdir -p "$OUT"
for algo in ${ALGOS:-sac fpmd_m td3 fpmd_r}; do
    resume=()
    [ -f "$OUT/$algo/sweep.json" ] && resume=(--resume)
    echo "$(date -Is) start $algo ${resume[*]}"
    "$PY" scripts/sweep.py --envs "$ENVS" --algos "$algo" --seeds 3 --config configs/quick_locomotion.yaml \
        --steps "$STEPS" --out "$OUT/$algo" --no-progress "${resume[@]}" >> "$OUT/$algo.log" 2>&1
    rc=$?
    echo "$(date -Is) end $algo: exit $rc"
done
