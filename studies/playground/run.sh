#!/usr/bin/env bash
# FPMD-M and SAC on two MuJoCo Playground tasks of the DM Control suite, 3 seeds on the run axis,
# configs/quick_playground.yaml (needs the playground extra), then the table and the curves:
#   bash studies/playground/run.sh          # rerun after a stop: a started sweep continues with --resume
cd "$(dirname "$0")/../.."
PY=${PY:-python}
OUT=${OUT:-runs/playground}
resume=()
[ -f "$OUT/sweep.json" ] && resume=(--resume)
"$PY" scripts/sweep.py --envs playground:CartpoleBalance,playground:CheetahRun --algos fpmd_m,sac --seeds 3 \
    --config configs/quick_playground.yaml --out "$OUT" --no-progress "${resume[@]}" || exit $?
"$PY" studies/playground/summarize.py "$OUT" --out studies/playground
