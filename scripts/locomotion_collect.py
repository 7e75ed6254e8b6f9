"""Collect what the locomotion chain (scripts/locomotion_sweep.sh, docs/locomotion.md) has
finished into the results location; safe to rerun at any time while the chain runs.

    python scripts/locomotion_collect.py                       # runs/locomotion -> docs/results/locomotion
    python scripts/locomotion_collect.py --runs R --docs D

The results location is kept complete on its own: run directories (checkpoints, replay buffers)
do not outlive the machine that trained them, so everything the tables and curves need is
copied out as each program finishes. For every sweep directory under ``RUNS`` (any directory
holding a sweep plan: the chain makes one per algorithm, task and seed) and every program in it
whose runs have all reached the budget:
  * each run's ``metrics.csv`` and ``run.json`` go to ``DOCS/<algo>/<task>-<algo>/seed_<seed>/``,
    named by the run's seed, so one-seed programs of seeds 0, 1 and 2 land side by side (not its
    checkpoints: they hold the replay buffer);
  * the Gymnasium v4 replay of its best checkpoint (10 episodes, by the run's evaluation rule,
    as ``validation/results_table.py`` replays it) to ``gym.json`` there, unless ``gym.json``
    already holds the replay of this very run (the same ``metrics.csv``, as many episodes).
Then, from the results location alone:
  * per algorithm, the table (mean +- std over seeds per task) of every replayed run to
    ``DOCS/<algo>/results.md`` and ``.csv``; a cell of an earlier ``results.csv`` with no replayed
    run behind it (a program tabled before runs were replayed one by one) is kept as it was;
  * per task, the learning curves (mean and +-1 std over seeds) of every algorithm's
    ``DOCS/<algo>/<task>-<algo>`` to ``DOCS/<task>.png``;
  * the summary in Table 1's layout (a row block per task, a column per algorithm: the mean
    Gymnasium return over seeds and its ratio to SAC's, the paper's cell and its ratio, the median
    training env steps/s per run) to ``DOCS/summary.md`` and ``.csv``.
Unfinished programs are named and skipped.
"""
from __future__ import annotations

import argparse
import csv
import glob
import hashlib
import json
import os
import shutil
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from fpmd_mjx import jax_setup  # noqa: E402,F401  (quiets XLA's logs: imported before jax)
from fpmd_mjx import results_table, sweep  # noqa: E402
from fpmd_mjx.checkpoint import CheckpointError  # noqa: E402
from fpmd_mjx.config import ConfigError  # noqa: E402
from scripts import plot_curves  # noqa: E402

RUN_FILES = ("metrics.csv", "run.json")
REPLAY_FILE = "gym.json"
NUMERIC = ("seeds", "env_steps", "gym_mean", "gym_std", "mjx_mean", "mjx_std", "paper")
SUMMARY_ALGOS = ("sac", "td3", "fpmd_r", "fpmd_m")  # the baseline first: ratios are to SAC
OURS = ("seeds", "env_steps", "gym_mean", "gym_std")  # a summary cell's own figures (None: not run yet)
SUMMARY_COLUMNS = ("task", "algo", *OURS, "x_sac", "paper", "paper_x_sac", "steps_per_s")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", default="runs/locomotion", help="the chain's sweep directories (default runs/locomotion)")
    p.add_argument("--docs", default="docs/results/locomotion", help="results location (default docs/results/locomotion)")
    p.add_argument("--episodes", type=int, default=10, help="Gymnasium episodes per run (default 10)")
    return p.parse_args(argv)


def finished_programs(runs: str) -> list[tuple[str, dict]]:
    """``[(sweep directory, plan group), ...]``: the programs of every sweep directory under
    ``runs`` whose runs have all reached their budget (the others are named and skipped)."""
    out = []
    for name in sorted(os.listdir(runs)):
        sweep_dir = os.path.join(runs, name)
        if os.path.isfile(os.path.join(sweep_dir, sweep.PLAN_FILE)):
            log = lambda msg, name=name: print(f"{name}: {msg}")  # noqa: E731
            out += [(sweep_dir, g) for g in results_table.finished_groups(sweep_dir, finished_only=True, log=log)]
    return out


def _read_json(path: str) -> dict:
    with open(path) as f:
        return json.load(f)


def _digest(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def collect_program(sweep_dir: str, group: dict, docs: str, episodes: int) -> None:
    """Copy a finished program's runs to ``docs`` and replay the runs not replayed yet."""
    stale = []
    for r in group["runs"]:
        src = os.path.join(sweep_dir, r["dir"])
        dst = os.path.join(docs, group["algo"], f"{group['env']}-{group['algo']}", f"seed_{r['seed']}")
        os.makedirs(dst, exist_ok=True)
        for name in RUN_FILES:
            shutil.copy2(os.path.join(src, name), os.path.join(dst, name))
        digest, replay = _digest(os.path.join(src, "metrics.csv")), os.path.join(dst, REPLAY_FILE)
        done = _read_json(replay) if os.path.exists(replay) else {}
        if (done.get("metrics_sha256"), done.get("episodes")) != (digest, episodes):
            stale.append((r, replay, digest))
    if stale:
        rows = results_table.replay_runs(sweep_dir, episodes, 0, [{**group, "runs": [r for r, _, _ in stale]}])
        for row, (_, replay, digest) in zip(rows, stale):
            with open(replay, "w") as f:
                json.dump({**row, "episodes": episodes, "metrics_sha256": digest}, f, indent=1, default=float)


def program_dirs(docs: str) -> dict[str, list[str]]:
    """``{task: [DOCS/<algo>/<task>-<algo>, ...]}``: every program in the results location."""
    out = {}
    for d in sorted(glob.glob(os.path.join(docs, "*", "*-*"))):
        algo, name = os.path.basename(os.path.dirname(d)), os.path.basename(d)
        if name.endswith(f"-{algo}") and glob.glob(os.path.join(d, "seed_*", "metrics.csv")):
            out.setdefault(name[: -len(algo) - 1], []).append(d)
    return out


def read_cells(path: str) -> list[dict]:
    """The cells of a ``results.csv`` written by :func:`results_table.write`."""
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        cells = list(csv.DictReader(f))
    for c in cells:
        for k in NUMERIC:
            c[k] = None if c[k] == "" else (int(c[k]) if k in ("seeds", "env_steps") else float(c[k]))
    return cells


def tabulate(docs: str) -> None:
    """Per algorithm, the table of every replayed run in the results location (cells of an
    earlier ``results.csv`` with no replayed run behind them kept)."""
    for algo in sorted(os.listdir(docs)):
        replays = sorted(glob.glob(os.path.join(docs, algo, f"*-{algo}", "seed_*", REPLAY_FILE)))
        if not replays:
            continue
        cells = results_table.table([_read_json(p) for p in replays])
        stem = os.path.join(docs, algo, "results")
        new = {_cell_key(c) for c in cells}
        kept = [c for c in read_cells(stem + ".csv") if _cell_key(c) not in new]
        results_table.write(sorted(kept + cells, key=_cell_key), stem)


def _cell_key(cell: dict) -> tuple:
    return cell["task"], cell["algo"], cell["rule"], cell["grid"]


def median_steps_per_s(program_dir: str) -> float | None:
    """The median of the ``steps_per_s`` column (env steps per second of one run, training
    chunks only, compilation excluded) over every seed's ``metrics.csv`` of a program."""
    rates = [v for path in glob.glob(os.path.join(program_dir, "seed_*", "metrics.csv"))
             for v in plot_curves.read_metric(path, "steps_per_s").values()]
    return float(np.median(rates)) if rates else None


def summary_cells(docs: str) -> list[dict]:
    """Per task tabled in the results location, one cell per algorithm of ``SUMMARY_ALGOS``: the
    mean Gymnasium return over seeds and its ratio to SAC's on the task, the paper's Table 1
    cell and the paper's ratio, and the median env steps/s per run (None where a figure is
    missing: an algorithm not run on the task yet has the paper's figures alone)."""
    ours = {}
    for algo in SUMMARY_ALGOS:
        for c in read_cells(os.path.join(docs, algo, "results.csv")):
            if not c["grid"]:
                ours[c["task"], algo] = c
    out = []
    for task in sorted({task for task, _ in ours}):
        sac, paper = ours.get((task, "sac")), results_table.PAPER.get(task, {})
        for algo in SUMMARY_ALGOS:
            c = ours.get((task, algo), dict.fromkeys(OURS))
            out.append({"task": task, "algo": algo, **{k: c[k] for k in OURS},
                        "x_sac": c["gym_mean"] / sac["gym_mean"] if sac and c["gym_mean"] is not None else None,
                        "paper": paper.get(algo),
                        "paper_x_sac": paper[algo] / paper["sac"] if algo in paper and "sac" in paper else None,
                        "steps_per_s": median_steps_per_s(os.path.join(docs, algo, f"{task}-{algo}"))})
    return out


def summary_markdown(cells: list[dict]) -> str:
    """The cells in Table 1's layout: per task, five rows (ours, ours x SAC, the paper, the
    paper x SAC, env steps/s) and one column per algorithm; an empty cell is not run yet."""
    head = "| task | | " + " | ".join(SUMMARY_ALGOS) + " |"
    lines = [head, "|" + "---|" * (len(SUMMARY_ALGOS) + 2)]
    rows = (("Gymnasium v4 return (seeds)",
             lambda c: "" if c["seeds"] is None else f"{c['gym_mean']:.1f} ± {c['gym_std']:.1f} ({c['seeds']})"),
            ("x SAC", lambda c: _fmt(c["x_sac"], ".2f")),
            ("paper (Table 1, 1M env steps)", lambda c: _fmt(c["paper"], "g")),
            ("paper x SAC", lambda c: _fmt(c["paper_x_sac"], ".2f")),
            ("env steps/s per run (median)", lambda c: _fmt(c["steps_per_s"], ".1f")))
    for task in sorted({c["task"] for c in cells}):
        by_algo = {c["algo"]: c for c in cells if c["task"] == task}
        for i, (name, fmt) in enumerate(rows):
            lines.append(f"| {task if i == 0 else ''} | {name} | "
                         + " | ".join(fmt(by_algo[a]) for a in SUMMARY_ALGOS) + " |")
    return "\n".join(lines)


def _fmt(value, spec: str) -> str:
    return "" if value is None else format(value, spec)


def write_summary(docs: str) -> None:
    """The summary of the results location to ``DOCS/summary.md`` and ``.csv``."""
    cells = summary_cells(docs)
    if not cells:
        return
    results_table.write_files(os.path.join(docs, "summary"), summary_markdown(cells), cells, SUMMARY_COLUMNS)


def main(argv=None) -> int:
    args = parse_args(argv)
    if not os.path.isdir(args.runs):
        print(f"error: --runs {args.runs!r} is not a directory", file=sys.stderr)
        return 2
    if args.episodes < 1:
        print(f"error: --episodes must be >= 1, got {args.episodes}", file=sys.stderr)
        return 2
    try:
        programs = finished_programs(args.runs)
        for sweep_dir, group in programs:
            collect_program(sweep_dir, group, args.docs, args.episodes)
    except (ConfigError, CheckpointError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if not programs:
        print(f"nothing finished yet under {args.runs!r}")
    if not os.path.isdir(args.docs):
        return 0
    tabulate(args.docs)
    write_summary(args.docs)
    for task, dirs in sorted(program_dirs(args.docs).items()):
        plot_curves.main([*dirs, "--band", "std", "--title", task, "--out", os.path.join(args.docs, f"{task}.png")])
    return 0


if __name__ == "__main__":
    sys.exit(main())
