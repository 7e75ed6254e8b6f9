"""Learning curves: MJX evaluation return against env steps, one line per run.

    python scripts/plot_curves.py runs/hopper-fpmd_r runs/hopper-fpmd_m runs/hopper-sac --out hopper.png
    python scripts/plot_curves.py runs/ant-* --band std --out ant.png

A RUN_DIR holds ``metrics.csv`` (one seed) or ``seed_<k>/metrics.csv`` (several:
the line is the mean over seeds at the env steps all seeds evaluated, with a
min-max band, or +-1 std with ``--band std``). Rows with an empty ``eval_return``
(training-chunk rows) are skipped. Lines are labelled task / algo from the run's
``run.json`` (``{"config": {...}, "num_seeds": k}``), else by the directory name.
"""
from __future__ import annotations

import argparse
import csv
import glob
import json
import os
import sys


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", metavar="RUN_DIR")
    p.add_argument("--out", required=True, help="output image (.png, .pdf, ...)")
    p.add_argument("--band", choices=("minmax", "std", "none"), default="minmax", help="spread over seeds")
    p.add_argument("--title", default=None)
    p.add_argument("--label-fields", nargs="+", default=["env", "algo"], metavar="FIELD",
                   help="config fields (from run.json) that label a line, e.g. env algo weighting")
    return p.parse_args(argv)


def read_evals(path: str) -> dict[int, float]:
    """{env_steps: eval_return} from one metrics.csv (last value wins for a repeated step)."""
    out = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            if row.get("eval_return", "") not in ("", None):
                out[int(float(row["env_steps"]))] = float(row["eval_return"])
    return out


def load_run(run_dir: str, label_fields=("env", "algo")) -> dict:
    """``steps`` (T,), ``returns`` (seeds, T) at the steps every seed evaluated, and ``label``
    (the run's config values of ``label_fields``, joined by " / ")."""
    import numpy as np

    files = [os.path.join(run_dir, "metrics.csv")]
    if not os.path.exists(files[0]):
        files = sorted(glob.glob(os.path.join(run_dir, "seed_*", "metrics.csv")),
                       key=lambda p: int(os.path.basename(os.path.dirname(p)).split("_")[-1]))
    if not files:
        raise FileNotFoundError(f"{run_dir!r} holds no metrics.csv nor seed_<k>/metrics.csv")
    per_seed = [read_evals(f) for f in files]
    steps = sorted(set.intersection(*(set(s) for s in per_seed)))
    if not steps:
        raise ValueError(f"{run_dir!r}: no evaluation rows common to all {len(files)} seeds")
    label = os.path.basename(os.path.normpath(run_dir))
    info = os.path.join(run_dir, "run.json")
    if os.path.exists(info):
        with open(info) as f:
            cfg = json.load(f).get("config", {})
        label = " / ".join(str(cfg.get(k, "?")) for k in label_fields)
    return {"steps": np.asarray(steps), "returns": np.asarray([[s[t] for t in steps] for s in per_seed]),
            "label": label, "num_seeds": len(files)}


def draw(ax, runs: list[dict], band: str = "minmax") -> None:
    """One line per run on ``ax``: the mean over seeds with a min-max (or +-1 std) band."""
    for r in runs:
        mean = r["returns"].mean(axis=0)
        seeds = f" ({r['num_seeds']} seeds)" if r["num_seeds"] > 1 else ""
        (line,) = ax.plot(r["steps"], mean, marker="." if len(r["steps"]) < 30 else None, label=r["label"] + seeds)
        if r["num_seeds"] > 1 and band != "none":
            if band == "std":
                lo, hi = mean - r["returns"].std(axis=0), mean + r["returns"].std(axis=0)
            else:
                lo, hi = r["returns"].min(axis=0), r["returns"].max(axis=0)
            ax.fill_between(r["steps"], lo, hi, color=line.get_color(), alpha=0.2, lw=0)
    ax.set_xlabel("env steps")
    ax.set_ylabel("MJX eval return")


def figure(runs: list[dict], band: str = "minmax", title: str | None = None):
    """The curves of ``runs`` (:func:`load_run`) on one matplotlib figure (6.4 x 4.2 in)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    draw(ax, runs, band)
    if title:
        ax.set_title(title)
    return fig


def plot(runs: list[dict], out: str, band: str = "minmax", title: str | None = None) -> None:
    """Save :func:`figure` to ``out`` (120 dpi)."""
    from fpmd_mjx.reporting import save_figure

    fig = figure(runs, band, title)
    save_figure(fig, out, axes=fig.axes)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        runs = [load_run(d, args.label_fields) for d in args.runs]
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    plot(runs, args.out, args.band, args.title)
    print(f"wrote {args.out} ({', '.join(r['label'] for r in runs)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
