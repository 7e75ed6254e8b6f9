"""Collect what the locomotion chain (scripts/locomotion_sweep.sh, docs/locomotion.md) has
finished into the results location; safe to rerun at any time while the chain runs.

    python scripts/locomotion_collect.py                       # runs/locomotion -> docs/results/locomotion
    python scripts/locomotion_collect.py --runs R --docs D

For every sweep directory ``RUNS/<algo>`` (one per algorithm) and every program in it whose
runs have all reached the budget:
  * each run's ``metrics.csv`` and ``run.json`` go to ``DOCS/<algo>/<task>-<algo>/seed_<k>/``
    (not its checkpoints: they hold the replay buffer);
  * the Gymnasium v4 replay of every run's best checkpoint (``validation/results_table.py
    --finished-only``, 10 episodes) to ``DOCS/<algo>/results.md`` and ``.csv``;
then per task the learning curves of every algorithm with a finished program on it (mean and
+-1 std over seeds) to ``DOCS/<task>.png``. Unfinished programs are named and skipped.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from fpmd_mjx import jax_setup  # noqa: E402,F401  (quiets XLA's logs: imported before jax)
from fpmd_mjx import results_table, sweep  # noqa: E402
from fpmd_mjx.config import ConfigError  # noqa: E402
from scripts import plot_curves  # noqa: E402

RUN_FILES = ("metrics.csv", "run.json")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", default="runs/locomotion", help="the chain's sweep directories (default runs/locomotion)")
    p.add_argument("--docs", default="docs/results/locomotion", help="results location (default docs/results/locomotion)")
    p.add_argument("--episodes", type=int, default=10, help="Gymnasium episodes per run (default 10)")
    return p.parse_args(argv)


def finished_programs(runs: str) -> dict:
    """{algo: [plan group, ...]}: the programs of each sweep directory under ``runs`` whose
    runs have all reached their budget (sweep directories without one are left out)."""
    out = {}
    for algo in sorted(os.listdir(runs)):
        sweep_dir = os.path.join(runs, algo)
        if not os.path.isfile(os.path.join(sweep_dir, sweep.PLAN_FILE)):
            continue
        done = [g for g in sweep.load_plan(sweep_dir)["groups"] if not sweep.unfinished_runs(sweep_dir, g)]
        if done:
            out[algo] = done
    return out


def copy_runs(runs: str, docs: str, algo: str, group: dict) -> list[str]:
    """Copy each run's metrics.csv and run.json of a finished program; returns the program's
    directory (``RUNS/<algo>/<task>-<algo>``) for its learning curve."""
    for r in group["runs"]:
        src, dst = os.path.join(runs, algo, r["dir"]), os.path.join(docs, algo, r["dir"])
        os.makedirs(dst, exist_ok=True)
        for name in RUN_FILES:
            shutil.copy2(os.path.join(src, name), os.path.join(dst, name))
    return os.path.join(runs, algo, group["runs"][0]["dir"].split("/")[0])


def main(argv=None) -> int:
    args = parse_args(argv)
    if not os.path.isdir(args.runs):
        print(f"error: --runs {args.runs!r} is not a directory", file=sys.stderr)
        return 2
    try:
        programs = finished_programs(args.runs)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if not programs:
        print(f"nothing finished yet under {args.runs!r}")
        return 0
    curves: dict[str, list[str]] = {}
    for algo, groups in programs.items():
        for g in groups:
            curves.setdefault(g["env"], []).append(copy_runs(args.runs, args.docs, algo, g))
        rc = results_table.main([os.path.join(args.runs, algo), "--finished-only", "--episodes", str(args.episodes),
                                 "--out", os.path.join(args.docs, algo, "results")])
        if rc:
            return rc
    for task, dirs in sorted(curves.items()):
        plot_curves.main([*dirs, "--band", "std", "--title", task, "--out", os.path.join(args.docs, f"{task}.png")])
    return 0


if __name__ == "__main__":
    sys.exit(main())
