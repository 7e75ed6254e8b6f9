"""A Table-1-style results table of a sweep: every run's best checkpoint replayed in
Gymnasium v4 (C MuJoCo) through ``fpmd_mjx.gym_eval``.

    python validation/results_table.py runs/table1                 # writes runs/table1/results.{md,csv}
    python validation/results_table.py runs/table1 --episodes 20
    python validation/results_table.py runs/locomotion/sac --finished-only   # a sweep still running

One row per task, algorithm and grid point: mean ± std over seeds of each run's mean
Gymnasium return (``--episodes`` episodes, by the run's evaluation rule, named in the
``rule`` column, at its evaluation NFE: one sample at NFE 1 for FPMD-R and FPMD-M, the
best of 32 20-step chains by Q for DPMD, the mean or deterministic action for SAC, TD3
and PPO), the MJX return the checkpoint recorded by the same rule,
and the paper's Table 1 number for the same cell (best mean return, 5 seeds, 1M env
steps; Humanoid 5M; every algorithm of the project has a cell).

A sweep with a program that has not reached its budget is refused (one ``error:`` line
naming it); ``--finished-only`` tables the finished programs and names the others as
skipped, so a long sweep's results can be committed program by program.

Exit status: 0 ok, 2 bad input (one ``error:`` line). ``validation/results_table.py`` is the
command line (:func:`main`).
"""
from __future__ import annotations

import argparse
import csv
import os
import sys

import numpy as np

from fpmd_mjx import gym_eval, sweep
from fpmd_mjx.checkpoint import CheckpointError
from fpmd_mjx.config import ConfigError
from fpmd_mjx.rebuild import load_intact_policy

# The FPMD paper's Table 1 (FPMD-R / FPMD-M / SAC / TD3 / PPO at NFE 1; DPMD at 20 steps x 32 particles)
PAPER = {
    "half_cheetah": {"ppo": 4852, "sac": 8981, "td3": 8149, "dpmd": 11924, "fpmd_r": 9345, "fpmd_m": 8549},
    "reacher": {"ppo": -8.69, "sac": -65.35, "td3": -3.10, "dpmd": -3.14, "fpmd_r": -3.30, "fpmd_m": -3.48},
    "humanoid": {"ppo": 952, "sac": 2858, "td3": 5816, "dpmd": 6959, "fpmd_r": 6124, "fpmd_m": 3930},
    "pusher": {"ppo": -25.52, "sac": -31.22, "td3": -25.07, "dpmd": -30.43, "fpmd_r": -23.66, "fpmd_m": -24.63},
    "inverted_pendulum": {"ppo": 1000, "sac": 1000, "td3": 1000, "dpmd": 1000, "fpmd_r": 1000, "fpmd_m": 1000},
    "ant": {"ppo": 3442, "sac": 2500, "td3": 3733, "dpmd": 5683, "fpmd_r": 5376, "fpmd_m": 5350},
    "hopper": {"ppo": 3227, "sac": 3197, "td3": 1934, "dpmd": 3275, "fpmd_r": 3278, "fpmd_m": 2076},
    "swimmer": {"ppo": 84.5, "sac": 63.5, "td3": 71.9, "dpmd": 79.3, "fpmd_r": 53.5, "fpmd_m": 46.5},
    "walker2d": {"ppo": 4114, "sac": 3233, "td3": 2476, "dpmd": 4365, "fpmd_r": 4760, "fpmd_m": 3253},
    "inverted_double_pendulum": {"ppo": 9358, "sac": 9359, "td3": 9360, "dpmd": 9360, "fpmd_r": 9359, "fpmd_m": 9357},
}
COLUMNS = ("task", "algo", "rule", "grid", "seeds", "env_steps", "gym_mean", "gym_std", "mjx_mean", "mjx_std", "paper")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("sweep", help="a scripts/sweep.py output directory")
    p.add_argument("--episodes", type=int, default=10, help="Gymnasium episodes per run (default 10)")
    p.add_argument("--seed", type=int, default=0, help="first episode seed")
    p.add_argument("--out", default=None, help="output stem (default SWEEP/results -> .md and .csv)")
    p.add_argument("--finished-only", action="store_true",
                   help="table the programs that reached their budget and skip the others (default: refuse)")
    return p.parse_args(argv)


def finished_groups(sweep_dir: str, finished_only: bool = False, log=print) -> list[dict]:
    """The groups of the sweep's plan to table: all of them once every run reached its
    budget; otherwise a ``ConfigError`` naming the first unfinished program, or with
    ``finished_only`` the finished ones, possibly none (each skipped program named through
    ``log``)."""
    groups = []
    for g in sweep.load_plan(sweep_dir)["groups"]:
        missing = sweep.unfinished_runs(sweep_dir, g)
        if not missing:
            groups.append(g)
            continue
        name, total = missing[0].split("/")[0], g["config"]["total_steps"]  # the program: OUT/<task>-<algo>/...
        if not finished_only:
            raise ConfigError(f"program {name!r} of {sweep_dir!r} has not reached its budget of {total} env steps "
                              f"({len(missing)} of {len(g['runs'])} runs); finish it with scripts/sweep.py "
                              f"--resume, or table the finished programs with --finished-only")
        log(f"skipped {name}: {len(missing)} of {len(g['runs'])} runs short of {total} env steps")
    return groups


def replay_runs(sweep_dir: str, episodes: int, seed: int, groups: list[dict] | None = None) -> list[dict]:
    """One dict per run of the sweep's ``groups`` (default: every group of its plan):
    task, algo, grid tag, seed, Gymnasium and MJX returns."""
    if groups is None:
        groups = sweep.load_plan(sweep_dir)["groups"]
    args = gym_eval.parse_args(["unused", "--episodes", str(episodes), "--seed", str(seed)])
    rows = []
    for g in groups:
        for run in g["runs"]:
            run_dir = os.path.join(sweep_dir, run["dir"])
            best = os.path.join(run_dir, "best")
            steps = sorted((d for d in os.listdir(best) if d.isdigit()), key=int) if os.path.isdir(best) else []
            if not steps:
                raise CheckpointError(f"run {run_dir!r} has no best checkpoint (did the sweep finish?)")
            ckpt = load_intact_policy(os.path.join(best, steps[-1]))
            args.nfe, args.policy = [ckpt[2].agent.eval_nfe], [ckpt[1].eval_rule]
            res = gym_eval.evaluate_checkpoint(ckpt, args, run["dir"], None)[0]
            rows.append({"task": g["env"], "algo": g["algo"], "rule": f"{res['policy']} @ NFE {res['nfe']}",
                         "seed": run["seed"],
                         "grid": ",".join(f"{k}={v:g}" for k, v in sorted(run["grid"].items())),
                         "gym": res["gym_return_mean"], "mjx": res["mjx_return"], "env_steps": res["env_steps"]})
    return rows


def table(rows: list[dict]) -> list[dict]:
    """Mean ± std over seeds per (task, algo, grid), with the paper's cell."""
    cells = {}
    for r in rows:
        cells.setdefault((r["task"], r["algo"], r["rule"], r["grid"]), []).append(r)
    out = []
    for (task, algo, rule, grid), rs in cells.items():
        gym, mjx = np.array([r["gym"] for r in rs]), np.array([r["mjx"] for r in rs])
        out.append({"task": task, "algo": algo, "rule": rule, "grid": grid, "seeds": len(rs),
                    "env_steps": max(r["env_steps"] or 0 for r in rs),
                    "gym_mean": float(gym.mean()), "gym_std": float(gym.std()),
                    "mjx_mean": float(mjx.mean()), "mjx_std": float(mjx.std()),
                    "paper": PAPER.get(task, {}).get(algo)})
    return out


def markdown(cells: list[dict]) -> str:
    grid = any(c["grid"] for c in cells)
    head = "| task | algo | evaluation rule |" + (" grid |" if grid else "") + " seeds | best-checkpoint env step | " \
           "Gymnasium v4 return | MJX return | paper (Table 1) |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for c in cells:
        paper = "" if c["paper"] is None else f"{c['paper']:g}"
        lines.append(f"| {c['task']} | {c['algo']} | {c['rule']} |" + (f" {c['grid']} |" if grid else "")
                     + f" {c['seeds']} | {c['env_steps']} | {c['gym_mean']:.1f} ± {c['gym_std']:.1f} | "
                       f"{c['mjx_mean']:.1f} ± {c['mjx_std']:.1f} | {paper} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.episodes < 1:
        print(f"error: --episodes must be >= 1, got {args.episodes}", file=sys.stderr)
        return 2
    try:
        groups = finished_groups(args.sweep, args.finished_only)
        if not groups:
            raise ConfigError(f"no program of {args.sweep!r} has reached its budget yet")
        rows = replay_runs(args.sweep, args.episodes, args.seed, groups)
    except (ConfigError, CheckpointError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    write(table(rows), args.out or os.path.join(args.sweep, "results"))
    return 0


def write(cells: list[dict], stem: str) -> None:
    """The table of ``cells`` (from :func:`table`) to ``stem.md`` and ``stem.csv``, and printed."""
    md = markdown(cells)
    print(md)
    write_files(stem, md, cells, COLUMNS)


def write_files(stem: str, md: str, rows: list[dict], columns: tuple[str, ...]) -> None:
    """A table as markdown ``md`` to ``stem.md`` and as ``rows`` (dicts keyed by ``columns``) to
    ``stem.csv``."""
    with open(stem + ".md", "w") as f:
        f.write(md + "\n")
    with open(stem + ".csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=columns)
        w.writeheader()
        w.writerows(rows)
    print(f"wrote {stem}.md and {stem}.csv")
