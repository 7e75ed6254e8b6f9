"""Brax's own SAC beside FPMD-R / FPMD-M on the same MJX task and env-step budget.

    python benchmarks/compare_brax_sac.py --env inverted_pendulum --steps 20000 --num-envs 16 --out cmp.json
    python benchmarks/compare_brax_sac.py --smoke

Brax SAC (``brax.training.agents.sac.train``) trains directly on our task object
(``fpmd_mjx.envs.make(env)``, a brax ``PipelineEnv`` on the MJX backend, behind
``fpmd_mjx.envs.wrappers.ScaledActions`` so its [-1, 1] actions span the actuator range as ours
do; brax adds its episode / auto-reset wrappers with ``episode_length = env.episode_length``);
our algorithms train with ``fpmd_mjx.runner.run`` on the same task, in the same
process, with matched knobs: env steps, parallel envs, warm-up (brax:
``min_replay_size``), batch size, updates per vector step (brax:
``grad_updates_per_step``), discount, networks (hidden sizes and relu, brax's
activation, for every algorithm here; the configs' own default is mish).
Reported per algorithm: wall time (compilation included), env steps / s over the
whole run and in steady state (compilation excluded), and the final evaluation
return (brax: its deterministic eval over ``--eval-episodes`` episodes; ours: the
runner's MJX evaluation of the EMA policy, one sample, no noise).
Returns are undiscounted sums of the task's reward in both. brax's training agents need
jax < 0.9 (the ``brax-agents`` extra, in a venv of its own); with a newer jax the script stops
with one line and exit 2.
"""
from __future__ import annotations

import argparse
import csv
import functools
import itertools
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from fpmd_mjx import reporting  # noqa: E402  (standard library only; jax comes later)

SMOKE = dict(steps=1024, num_envs=8, warmup=256, hidden_sizes=(32, 32), updates_per_step=1, batch_size=64,
             eval_episodes=4)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--env", default="inverted_pendulum", help="task name (fpmd_mjx.envs.names())")
    p.add_argument("--steps", type=int, default=20_000, help="env steps per algorithm")
    p.add_argument("--num-envs", type=int, default=16, help="parallel envs")
    p.add_argument("--warmup", type=int, default=1000, help="random-action env steps before learning")
    p.add_argument("--updates-per-step", type=int, default=8, help="gradient updates per vector env step")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--hidden-sizes", type=int, nargs="+", default=[128, 128])
    p.add_argument("--eval-episodes", type=int, default=16)
    p.add_argument("--algos", nargs="+", default=["sac", "fpmd_m", "fpmd_r"], help="ours, trained beside brax SAC")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="write the results as JSON here")
    p.add_argument("--smoke", action="store_true", help="a tiny budget and networks (for tests)")
    return p.parse_args(argv)


def budget(args) -> dict:
    if args.smoke:
        return dict(SMOKE)
    return dict(steps=args.steps, num_envs=args.num_envs, warmup=args.warmup, hidden_sizes=tuple(args.hidden_sizes),
                updates_per_step=args.updates_per_step, batch_size=args.batch_size, eval_episodes=args.eval_episodes)


def run_brax_sac(env_name: str, b: dict, seed: int) -> dict:
    """Train brax SAC on our task; returns wall time, steps/s and the last eval return."""
    from brax.training.agents.sac import networks as sac_networks
    from brax.training.agents.sac import train as sac

    from fpmd_mjx import envs
    from fpmd_mjx.envs.wrappers import ScaledActions

    env = ScaledActions(envs.make(env_name))  # a brax env taking [-1, 1] actions, as our algorithms act
    evals = []

    def progress(step, metrics):
        evals.append((int(step), float(metrics["eval/episode_reward"]), float(metrics.get("training/sps", "nan"))))

    t0 = time.time()
    sac.train(environment=env, num_timesteps=b["steps"], episode_length=env.episode_length, num_envs=b["num_envs"],
              num_eval_envs=b["eval_episodes"], num_evals=3, batch_size=b["batch_size"],
              grad_updates_per_step=b["updates_per_step"], min_replay_size=b["warmup"],
              max_replay_size=max(b["steps"], b["warmup"] + 1), discounting=0.99, learning_rate=3e-4,
              reward_scaling=1.0, tau=0.005, deterministic_eval=True, seed=seed, progress_fn=progress,
              network_factory=functools.partial(sac_networks.make_sac_networks,
                                                hidden_layer_sizes=tuple(b["hidden_sizes"])))
    wall = time.time() - t0
    return {"algo": "brax_sac", "env_steps": evals[-1][0], "wall_s": wall, "steps_per_s": evals[-1][0] / wall,
            "steady_steps_per_s": evals[-1][2], "final_eval_return": evals[-1][1],
            "evals": [(s, r) for s, r, _ in evals]}


def run_ours(algo: str, env_name: str, b: dict, seed: int) -> dict:
    """Train one of our algorithms with the runner; returns wall time, steps/s, final eval return."""
    from fpmd_mjx.config import load_config
    from fpmd_mjx.runner import run

    cfg = load_config(algo, env_name, dict(
        total_steps=b["steps"], num_envs=b["num_envs"], warmup_steps=b["warmup"], hidden_sizes=list(b["hidden_sizes"]),
        updates_per_step=b["updates_per_step"], batch_size=b["batch_size"], eval_episodes=b["eval_episodes"],
        activation="relu",
        buffer_size=max(b["steps"], b["num_envs"]), eval_every=b["steps"], checkpoint_every=b["steps"],
        chunk_iterations=max(1, min(1000, (b["steps"] - b["warmup"]) // b["num_envs"] // 4)), seed=seed))
    with tempfile.TemporaryDirectory() as out:
        t0 = time.time()
        res = run(cfg, out, progress=False)
        wall = time.time() - t0
        with open(os.path.join(out, "metrics.csv"), newline="") as f:
            rows = [(int(r["env_steps"]), float(r["steps_per_s"])) for r in csv.DictReader(f) if r["steps_per_s"]]
    # full-length chunks after the first: the first compiles the chunk program, and the last
    # one, shortened to end at the budget, compiles its own
    full = cfg.chunk_iterations * cfg.num_envs
    rates = [rate for (prev, _), (step, rate) in itertools.pairwise(rows) if step - prev == full]
    steady = statistics.median(rates) if rates else float("nan")
    return {"algo": algo, "env_steps": res.env_steps, "wall_s": wall, "steps_per_s": res.env_steps / wall,
            "steady_steps_per_s": steady, "final_eval_return": float(res.eval_returns[0]), "eval_nfe": res.eval_nfe}


def format_table(res: dict) -> str:
    b = res["budget"]
    lines = [f"{res['env']} on {res['device']}: {b['steps']} env steps, {b['num_envs']} envs, warm-up {b['warmup']}, "
             f"{b['updates_per_step']} updates/step, batch {b['batch_size']}, hidden {list(b['hidden_sizes'])}",
             f"{'algo':<10} {'env steps':>9} {'wall s':>8} {'steps/s':>8} {'steady steps/s':>15} {'final eval return':>18}"]
    for r in res["rows"]:
        lines.append(f"{r['algo']:<10} {r['env_steps']:>9} {r['wall_s']:>8.1f} {r['steps_per_s']:>8.1f} {r['steady_steps_per_s']:>15.1f} "
                     f"{r['final_eval_return']:>18.2f}")
    lines.append("(wall s and steps/s include compilation; steady steps/s: brax's training/sps of its last epoch, "
                 "ours the median rate of the full-length chunks after the first)")
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    from fpmd_mjx.jax_setup import start_brax_comparison

    if why := start_brax_comparison():
        return reporting.error(why)
    import jax

    from fpmd_mjx import envs

    try:
        env_name = envs.canonical_name(args.env)
    except ValueError as e:
        return reporting.error(str(e))
    b = budget(args)
    rows = [run_brax_sac(env_name, b, args.seed)] + [run_ours(a, env_name, b, args.seed) for a in args.algos]
    dev = jax.devices()[0]
    res = {"env": env_name, "device": f"{dev.platform}:{dev.device_kind}", "budget": {**b, "hidden_sizes":
           list(b["hidden_sizes"])}, "seed": args.seed, "rows": rows}
    return reporting.report(format_table(res), args.out, res)


if __name__ == "__main__":
    sys.exit(main())
