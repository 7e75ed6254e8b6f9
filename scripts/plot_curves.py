"""Learning curves: MJX evaluation return (or any column of ``metrics.csv``) against env steps.

    python scripts/plot_curves.py runs/hopper-fpmd_r runs/hopper-fpmd_m runs/hopper-sac --out hopper.png
    python scripts/plot_curves.py runs/ant-* --band std --out ant.png
    python scripts/plot_curves.py runs/hopper-* --metrics eval_return q_mean weight_ess noise_std --out diag.png

A RUN_DIR holds ``metrics.csv`` (one seed) or ``seed_<k>/metrics.csv`` (several:
the line is the mean over seeds at the env steps all seeds logged, with a
min-max band, or +-1 std with ``--band std``). Each of ``--metrics`` (default
``eval_return``) is one panel; a metric is read from the rows that hold it (the
evaluation rows for ``eval_return``, the training-chunk rows for the losses and
diagnostics), and a run that does not log it (SAC has no ``weight_ess``) is left out
of that panel. Lines are labelled task / algo from the run's ``run.json``
(``{"config": {...}, "num_seeds": k}``; in a sweep, its first seed's), else by the directory name.
"""
from __future__ import annotations

import argparse
import csv
import glob
import json
import math
import os
import sys

YLABELS = {"eval_return": "MJX eval return"}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", metavar="RUN_DIR")
    p.add_argument("--out", required=True, help="output image (.png, .pdf, ...)")
    p.add_argument("--metrics", nargs="+", default=["eval_return"], metavar="COLUMN",
                   help="metrics.csv columns, one panel each (default: eval_return)")
    p.add_argument("--band", choices=("minmax", "std", "none"), default="minmax", help="spread over seeds")
    p.add_argument("--title", default=None)
    p.add_argument("--label-fields", nargs="+", default=["env", "algo"], metavar="FIELD",
                   help="config fields (from run.json) that label a line, e.g. env algo weighting")
    return p.parse_args(argv)


def read_metric(path: str, metric: str = "eval_return") -> dict[int, float]:
    """{env_steps: value} of ``metric`` from one metrics.csv, over the rows that hold it (last
    value wins for a repeated step; empty if the file has no such column)."""
    out = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            if row.get(metric, "") not in ("", None):
                out[int(float(row["env_steps"]))] = float(row[metric])
    return out


def load_run(run_dir: str, label_fields=("env", "algo"), metrics=("eval_return",)) -> dict:
    """``curves``: for each of ``metrics`` the run logs, ``(steps (T,), values (seeds, T))`` at the
    steps every seed logged it; ``label`` (the run's config values of ``label_fields``, joined by
    " / "); ``num_seeds``; ``columns``, the columns of its first metrics.csv. A run with columns
    for ``metrics`` but no rows of them common to all its seeds: ValueError."""
    import numpy as np

    files = [os.path.join(run_dir, "metrics.csv")]
    if not os.path.exists(files[0]):
        files = sorted(glob.glob(os.path.join(run_dir, "seed_*", "metrics.csv")),
                       key=lambda p: int(os.path.basename(os.path.dirname(p)).split("_")[-1]))
    if not files:
        raise FileNotFoundError(f"{run_dir!r} holds no metrics.csv nor seed_<k>/metrics.csv")
    curves = {}
    for metric in metrics:
        per_seed = [read_metric(f, metric) for f in files]
        steps = sorted(set.intersection(*(set(s) for s in per_seed)))
        if steps:
            curves[metric] = (np.asarray(steps), np.asarray([[s[t] for t in steps] for s in per_seed]))
    with open(files[0], newline="") as f:
        columns = next(csv.reader(f), [])
    if not curves and set(metrics) & set(columns):
        raise ValueError(f"{run_dir!r}: no rows of {', '.join(metrics)} common to all {len(files)} seeds")
    label = os.path.basename(os.path.normpath(run_dir))
    info = os.path.join(run_dir, "run.json")
    if not os.path.exists(info):  # a sweep's program: each seed directory holds its run.json
        info = os.path.join(os.path.dirname(files[0]), "run.json")
    if os.path.exists(info):
        with open(info) as f:
            cfg = json.load(f).get("config", {})
        label = " / ".join(str(cfg.get(k, "?")) for k in label_fields)
    return {"curves": curves, "label": label, "num_seeds": len(files), "columns": columns}


def draw(ax, runs: list[dict], band: str = "minmax", metric: str = "eval_return") -> None:
    """One line per run that logs ``metric`` on ``ax``: the mean over seeds with a min-max
    (or +-1 std) band."""
    for r in runs:
        if metric not in r["curves"]:
            continue
        steps, values = r["curves"][metric]
        mean = values.mean(axis=0)
        seeds = f" ({r['num_seeds']} seeds)" if r["num_seeds"] > 1 else ""
        (line,) = ax.plot(steps, mean, marker="." if len(steps) < 30 else None, label=r["label"] + seeds)
        if r["num_seeds"] > 1 and band != "none":
            if band == "std":
                lo, hi = mean - values.std(axis=0), mean + values.std(axis=0)
            else:
                lo, hi = values.min(axis=0), values.max(axis=0)
            ax.fill_between(steps, lo, hi, color=line.get_color(), alpha=0.2, lw=0)
    ax.set_xlabel("env steps")
    ax.set_ylabel(YLABELS.get(metric, metric))


def figure(runs: list[dict], band: str = "minmax", title: str | None = None, metrics=("eval_return",)):
    """The curves of ``runs`` (:func:`load_run`) on one matplotlib figure: one 6.4 x 4.2 in panel
    per metric, at most three to a row."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = min(len(metrics), 3)
    rows = math.ceil(len(metrics) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(6.4 * cols, 4.2 * rows), squeeze=False)
    for ax, metric in zip(axes.flat, metrics):
        draw(ax, runs, band, metric)
    for ax in list(axes.flat)[len(metrics):]:
        ax.remove()
    if title:
        fig.suptitle(title) if len(metrics) > 1 else axes[0, 0].set_title(title)
    return fig


def plot(runs: list[dict], out: str, band: str = "minmax", title: str | None = None,
         metrics=("eval_return",)) -> None:
    """Save :func:`figure` to ``out`` (120 dpi)."""
    from fpmd_mjx.reporting import save_figure

    fig = figure(runs, band, title, metrics)
    save_figure(fig, out, axes=fig.axes)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        runs = [load_run(d, args.label_fields, args.metrics) for d in args.runs]
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for metric in args.metrics:
        if not any(metric in r["curves"] for r in runs):
            valid = sorted({c for r in runs for c in r["columns"]} - {"env_steps", "updates", "wall_s"})
            print(f"error: --metrics: no run logs {metric!r}; choose from: {', '.join(valid)}", file=sys.stderr)
            return 2
    plot(runs, args.out, args.band, args.title, args.metrics)
    print(f"wrote {args.out} ({', '.join(r['label'] for r in runs)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
