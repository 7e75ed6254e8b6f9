"""Which actor-loss weighting? The same task, budget and seeds with each of them.

    python studies/weighting/weighting_study.py --envs hopper inverted_double_pendulum --steps 50000 \
        --seeds 2 --out runs/weighting
    python studies/weighting/weighting_study.py --smoke --out /tmp/weighting   # a tiny budget, for tests

For every task and every ``--weightings`` value (``paper``: lambda = alpha x std of Q over
the batch, Eq. 8; ``per_state``: Q minus the log-mean-exp of the state's N best-of-N
candidates' Q, an estimate of log Z(s); ``authors``: the released code's clipped
standardised Q), one run of ``--algo`` with ``--seeds`` seeds in one program, through the
runner (each run is an ordinary run directory: ``metrics.csv`` per seed, checkpoints,
``run.json``; an interrupted study continues with the same command). The configuration is
the algorithm's YAML with ``--config`` (default: the CPU-sized recipe of
``configs/quick_ip.yaml``) and ``--steps`` over it; only ``weighting`` differs between the
runs of a task.

Writes ``OUT/summary.json`` and ``OUT/summary.md`` (per task and weighting: the last and
the best MJX evaluation return, mean +- std over seeds; the effective sample size of the
actor-loss weights, ``(sum w)^2 / sum w^2`` out of the batch size, as its median over the
last quarter of training and its minimum; the largest share of one sample in the weights)
and ``OUT/<task>.png`` (evaluation return and weight ESS against env steps).
"""
from __future__ import annotations

import argparse
import csv
import glob
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from fpmd_mjx.jax_setup import enable_compilation_cache

SMOKE = {"total_steps": 640, "warmup_steps": 128, "num_envs": 8, "updates_per_step": 1, "chunk_iterations": 16,
         "hidden_sizes": [16, 16], "batch_size": 32, "num_particles": 4, "eval_every": 256, "eval_episodes": 2,
         "checkpoint_every": 640, "buffer_size": 1000}


def parse_args(argv=None):
    from fpmd_mjx.config import WEIGHTINGS

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--envs", nargs="+", default=["hopper", "inverted_double_pendulum"])
    p.add_argument("--algo", default="fpmd_m")
    p.add_argument("--weightings", nargs="+", default=list(WEIGHTINGS), help=f"of {', '.join(WEIGHTINGS)}")
    p.add_argument("--seeds", type=int, default=2, help="seeds per run (one program)")
    p.add_argument("--steps", type=int, default=50_000, help="env steps per run")
    p.add_argument("--config", default="configs/quick_ip.yaml", help="YAML overlay over the algorithm's config")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="more overrides")
    p.add_argument("--out", required=True, help="study directory: OUT/<task>-<weighting>/ per run")
    p.add_argument("--smoke", action="store_true", help="a tiny budget and networks (for tests)")
    return p.parse_args(argv)


def configs(args) -> dict:
    """{(task, weighting): config}; raises ConfigError on bad input."""
    from fpmd_mjx.config import ConfigError, load_config, load_overlay, parse_overrides

    if args.seeds < 1:
        raise ConfigError(f"--seeds must be >= 1, got {args.seeds}")
    over = {} if args.smoke else load_overlay(args.config)
    over.update(SMOKE if args.smoke else {"total_steps": args.steps})
    over.update(parse_overrides(args.set))
    return {(env, w): load_config(args.algo, env, {**over, "weighting": w}) for env in args.envs for w in args.weightings}


def release_programs() -> None:
    """Drop the compiled programs of finished runs (the runner's cache and jax's)."""
    import jax

    from fpmd_mjx import programs

    programs.release()
    jax.clear_caches()


def _checkpointed_step(run_dir: str, num_seeds: int) -> int | None:
    """The env step every seed of a run directory has a checkpoint of (None: start afresh)."""
    from fpmd_mjx.checkpoint import RunCheckpointer
    from fpmd_mjx.rundir import seed_dirs

    steps = []
    for d in seed_dirs(run_dir, num_seeds):
        if not os.path.isdir(os.path.join(d, "checkpoints")):
            return None
        c = RunCheckpointer(d)
        steps.append(c.latest_step())
        c.close()
    return None if None in steps else min(steps)


def _rows(path: str) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _float(row: dict, key: str) -> float | None:
    v = row.get(key, "")
    return float(v) if v not in ("", None) else None


def summarize(run_dir: str, batch_size: int) -> dict:
    """Per-seed curves and the summary numbers of one run directory (see module doc)."""
    import numpy as np

    files = sorted(glob.glob(os.path.join(run_dir, "seed_*", "metrics.csv"))) or [os.path.join(run_dir, "metrics.csv")]
    seeds = []
    for path in files:
        rows = _rows(path)
        evals = [(int(float(r["env_steps"])), _float(r, "eval_return")) for r in rows if _float(r, "eval_return") is not None]
        ess = [(int(float(r["env_steps"])), _float(r, "weight_ess"), _float(r, "weight_max_share"))
               for r in rows if _float(r, "weight_ess") is not None]
        seeds.append({"evals": evals, "ess": ess})
    last = np.array([s["evals"][-1][1] for s in seeds])
    best = np.array([max(v for _, v in s["evals"]) for s in seeds])
    late, low, share = [], [], []
    for s in seeds:
        steps = np.array([t for t, _, _ in s["ess"]])
        vals = np.array([e for _, e, _ in s["ess"]])
        late.append(np.median(vals[steps >= steps.min() + 0.75 * (steps.max() - steps.min())]))
        low.append(vals.min())
        share.append(max(m for _, _, m in s["ess"]))
    return {"seeds": len(seeds), "final_return_mean": float(last.mean()), "final_return_std": float(last.std()),
            "best_return_mean": float(best.mean()), "best_return_std": float(best.std()),
            "ess_late_median": float(np.mean(late)), "ess_min": float(np.min(low)),
            "max_share_max": float(np.max(share)), "batch_size": batch_size, "curves": seeds}


def markdown(summary: dict) -> str:
    lines = ["| task | weighting | seeds | final eval return | best eval return | weight ESS, last quarter (min) "
             "| largest weight share |", "|---|---|---|---|---|---|---|"]
    for key, s in summary.items():
        task, w = key.split("/")
        lines.append(f"| {task} | {w} | {s['seeds']} | {s['final_return_mean']:.0f} ± {s['final_return_std']:.0f} "
                     f"| {s['best_return_mean']:.0f} ± {s['best_return_std']:.0f} "
                     f"| {s['ess_late_median']:.0f} / {s['batch_size']} ({s['ess_min']:.0f}) "
                     f"| {s['max_share_max']:.2f} |")
    return "\n".join(lines) + "\n"


def plot_task(task: str, runs: dict, run_dirs: dict, out: str) -> None:
    """Two panels: eval return (``scripts/plot_curves.py``'s lines: mean over seeds, min-max
    band) and the weight ESS (mean over seeds) against env steps, one line per weighting."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from fpmd_mjx.reporting import save_figure
    from scripts.plot_curves import draw, load_run

    fig, (ax_r, ax_e) = plt.subplots(1, 2, figsize=(10, 3.8))
    draw(ax_r, [load_run(run_dirs[w], ("weighting",)) for w in runs])
    ax_r.set_title(task)
    for (w, s), line in zip(runs.items(), ax_r.get_lines()):
        e_steps = [t for t, _, _ in s["curves"][0]["ess"]]
        e = np.array([[v for _, v, _ in c["ess"]][:len(e_steps)] for c in s["curves"]])
        ax_e.plot(e_steps, e.mean(0), color=line.get_color(), label=w)
    ax_e.set(xlabel="env steps", ylabel=f"weight ESS (of batch {next(iter(runs.values()))['batch_size']})",
             title="effective sample size of the actor-loss weights")
    save_figure(fig, out, axes=(ax_r, ax_e))


def main(argv=None) -> int:
    args = parse_args(argv)
    enable_compilation_cache()
    from fpmd_mjx.config import ConfigError
    from fpmd_mjx.rundir import save_run_info
    from fpmd_mjx.runner import run

    try:
        cfgs = configs(args)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    summary = {}
    for (task, w), cfg in cfgs.items():
        run_dir = os.path.join(args.out, f"{task}-{w}")
        reached = _checkpointed_step(run_dir, args.seeds)
        print(f"{task} / {cfg.algo} / weighting {w}: {cfg.total_steps} env steps, {args.seeds} seed(s)"
              + ("" if reached is None else " (done)" if reached >= cfg.total_steps else f" (continuing from {reached})"),
              flush=True)
        if reached is None:
            save_run_info(run_dir, cfg, args.seeds)
        if reached is None or reached < cfg.total_steps:
            run(cfg, run_dir, num_seeds=args.seeds, resume=reached is not None, progress=False)
            release_programs()  # each run compiles its own; a long study once ran out of JIT code memory
        summary[f"{task}/{w}"] = summarize(run_dir, cfg.batch_size)
    for task in args.envs:
        plot_task(task, {w: summary[f"{task}/{w}"] for w in args.weightings},
                  {w: os.path.join(args.out, f"{task}-{w}") for w in args.weightings}, os.path.join(args.out, f"{task}.png"))
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    table = markdown(summary)
    with open(os.path.join(args.out, "summary.md"), "w") as f:
        f.write(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
