#!/usr/bin/env bash
# The CPU locomotion experiment (docs/locomotion.md) as a chain of resumable one-seed programs,
# in the order the comparison needs them: FPMD-M on HalfCheetah, then Hopper; TD3 on Hopper;
# FPMD-R on HalfCheetah, then Hopper (optional: it costs most); seeds 0, 1, 2 of each,
# configs/quick_locomotion.yaml, 310k env steps per run. (SAC on both tasks and TD3 on
# HalfCheetah ran as 3-seed programs and are in the results location already.)
#
# Each (algorithm, task, seed) is its own sweep directory OUT/<algo>-<task>-seed<k>: one seed
# trains in about a third of a 3-seed program's wall-clock on a CPU, so a program finishes
# within one sitting of a few hours. As each program finishes, scripts/locomotion_collect.py
# copies its metrics, run.json and Gymnasium replay into the results location (DOCS), which is
# what to commit; a program whose replay is already there is skipped, so the chain continues
# on a fresh checkout where the run directories of earlier sittings are gone. A program whose
# directory survived a stop continues from its last checkpoint (--resume).
#
# On a shared CPU start it niced and detached:
#   mkdir -p runs && setsid nohup nice -n 19 bash scripts/locomotion_sweep.sh > runs/locomotion.log 2>&1 < /dev/null &
# PROGRAMS ("algo:task ..."), SEEDS, STEPS, OUT, DOCS and PY may be overridden from the environment;
# SET ("key=value ...") adds config overrides (--set) to every program, for a variant of the
# recipe: give it its own OUT and DOCS, so that its runs and results stay apart from the recipe's.
# Hopper at HalfCheetah's 0.5 updates per env step (docs/locomotion.md), for example:
#   OUT=runs/locomotion_hopper_utd05 DOCS=docs/results/locomotion_hopper_utd05 PROGRAMS=fpmd_m:hopper \
#   SET="updates_per_step=4 alpha_update_every=188 actor_lr_decay_begin=37500 actor_lr_decay_end=112500" \
#       bash scripts/locomotion_sweep.sh
cd "$(dirname "$0")/.."
# Where Linux groups each session for scheduling (autogroup), nice only ranks the processes of
# this session against each other: lower the whole group too, so the chain yields the CPU.
[ -w /proc/self/autogroup ] && echo 19 > /proc/self/autogroup 2>/dev/null
PY=${PY:-.venv/bin/python}
OUT=${OUT:-runs/locomotion}
DOCS=${DOCS:-docs/results/locomotion}
STEPS=${STEPS:-310000}
PROGRAMS=${PROGRAMS:-fpmd_m:half_cheetah fpmd_m:hopper td3:hopper fpmd_r:half_cheetah fpmd_r:hopper}
SEEDS=${SEEDS:-0 1 2}
sets=()
for kv in ${SET:-}; do sets+=(--set "$kv"); done
mkdir -p "$OUT"
for program in $PROGRAMS; do
    algo=${program%%:*} task=${program#*:}
    for seed in $SEEDS; do
        if [ -f "$DOCS/$algo/$task-$algo/seed_$seed/gym.json" ]; then
            echo "$(date -Is) skip $algo $task seed $seed: collected already"
            continue
        fi
        out="$OUT/$algo-$task-seed$seed"
        resume=()
        [ -f "$out/sweep.json" ] && resume=(--resume)
        echo "$(date -Is) start $algo $task seed $seed ${resume[*]}"
        "$PY" scripts/sweep.py --envs "$task" --algos "$algo" --seeds 1 --seed "$seed" \
            --config configs/quick_locomotion.yaml --steps "$STEPS" --out "$out" --no-progress "${sets[@]}" "${resume[@]}" \
            >> "$out.log" 2>&1
        rc=$?
        echo "$(date -Is) end $algo $task seed $seed: exit $rc"
        if [ "$rc" -eq 0 ]; then
            "$PY" scripts/locomotion_collect.py --runs "$OUT" --docs "$DOCS" >> "$OUT/collect.log" 2>&1
            echo "$(date -Is) collected: exit $?"
        fi
    done
done
