"""The table and learning curves of a sweep over MuJoCo Playground tasks (studies/playground/run.sh).

    python studies/playground/summarize.py runs/playground --out studies/playground

Writes ``OUT/results.md`` and ``OUT/results.json``: per task and algorithm, the MJX evaluation
return (mean over the run's evaluation episodes, by the algorithm's evaluation rule) at the last
evaluation and the best one, as mean ± std over seeds, the env steps, and the program's wall-clock
from its first evaluation to its last (compilation of the training programs included, the first
evaluation's excluded); and ``OUT/<task>.png``, one curve per algorithm (mean over seeds, min-max
band), drawn by ``scripts/plot_curves.py``. Playground environments have no Gymnasium
counterpart, so these are the MJX returns the runs recorded.
"""
from __future__ import annotations

import argparse
import csv
import glob
import json
import os
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLOT = os.path.join(ROOT, "scripts", "plot_curves.py")


def read_seed(path: str) -> dict:
    """One seed's metrics.csv: evaluation steps and returns, and its first and last wall times (s)."""
    steps, returns, walls = [], [], []
    with open(path) as f:
        for row in csv.DictReader(f):
            walls.append(float(row["wall_s"]))
            if row.get("eval_return"):
                steps.append(int(row["env_steps"]))
                returns.append(float(row["eval_return"]))
    return {"steps": steps, "returns": returns, "wall_s": walls[-1] - walls[0]}


def summarize(sweep_dir: str) -> list[dict]:
    """One row per program directory (``<task>-<algo>``) of ``sweep_dir``."""
    rows = []
    for program in sorted(glob.glob(os.path.join(sweep_dir, "*-*"))):
        seeds = sorted(glob.glob(os.path.join(program, "seed_*", "metrics.csv")))
        if not seeds:
            continue
        with open(os.path.join(os.path.dirname(seeds[0]), "run.json")) as f:
            cfg = json.load(f)["config"]
        runs = [read_seed(p) for p in seeds]
        final = np.array([r["returns"][-1] for r in runs])
        best = np.array([max(r["returns"]) for r in runs])
        rows.append({"task": cfg["env"], "algo": cfg["algo"], "seeds": len(runs),
                     "env_steps": min(r["steps"][-1] for r in runs),
                     "final_mean": float(final.mean()), "final_std": float(final.std()),
                     "best_mean": float(best.mean()), "best_std": float(best.std()),
                     "wall_min": max(r["wall_s"] for r in runs) / 60.0, "dir": program})
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("sweep", help="the sweep directory")
    p.add_argument("--out", required=True, help="directory for results.md, results.json and the figures")
    args = p.parse_args(argv)
    rows = summarize(args.sweep)
    if not rows:
        print(f"error: {args.sweep!r} holds no finished program (<task>-<algo>/seed_<k>/metrics.csv)", file=sys.stderr)
        return 2
    os.makedirs(args.out, exist_ok=True)
    lines = ["| task | algo | seeds | env steps | final MJX return | best MJX return | wall-clock (min) |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['task']} | {r['algo']} | {r['seeds']} | {r['env_steps']:,} | "
                     f"{r['final_mean']:.0f} ± {r['final_std']:.0f} | {r['best_mean']:.0f} ± {r['best_std']:.0f} | "
                     f"{r['wall_min']:.1f} |")
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump([{k: v for k, v in r.items() if k != "dir"} for r in rows], f, indent=2)
    for task in sorted({r["task"] for r in rows}):
        dirs = [r["dir"] for r in rows if r["task"] == task]
        png = os.path.join(args.out, task.split(":")[-1] + ".png")
        subprocess.run([sys.executable, PLOT, *dirs, "--out", png, "--title", f"{task}, MJX evaluation return"],
                       check=True)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
