"""brax's own PPO beside the project's PPO: the same task objects, hyperparameters and budget.

    python benchmarks/compare_brax_ppo.py --env inverted_pendulum --config configs/quick_ip_ppo.yaml --seeds 3
    python benchmarks/compare_brax_ppo.py --env hopper --steps 299008 --seeds 3 --out cmp.json
    python benchmarks/compare_brax_ppo.py --smoke

brax's PPO (``brax.training.agents.ppo.train``, the ``brax-agents`` extra: brax's training
agents need jax < 0.9) trains on our task object (``fpmd_mjx.envs.make``, behind
``ScaledActions`` so its [-1, 1] actions span the actuator range as ours do); ours trains with
``fpmd_mjx.runner.run`` from ``configs/ppo.yaml`` (plus ``--config`` / ``--steps``), in the same
process. Mapped one to one: env steps, ``num_envs``, ``ppo_unroll_length`` (brax's
``unroll_length``; brax's ``batch_size = num_envs / ppo_num_minibatches`` sequences per
minibatch, so both collect one rollout of every env per update), minibatches, epochs, learning
rate, discount, GAE lambda, clip (policy and value), value-loss weight, entropy cost,
gradient-norm clip, reward scale, observation normalisation, networks (sizes, activation).
What stays each one's own: brax's tanh-squashed Gaussian with a state-dependent scale against
our state-independent log-std with clipped actions; our reward normalisation and learning-rate
annealing (brax: none); brax's minibatches of whole sequences against our shuffled steps; at a
time limit ours bootstraps from the value of the last observation, brax drops the step from GAE.

Reported per implementation: the final MJX evaluation return (mean ± std over seeds; brax: its
deterministic evaluation, ours the runner's mean-action evaluation, each over
``eval_episodes``), steady env steps/s (compilation excluded: brax's ``training/sps`` of its
last epoch, ours the median rate of the full-length chunks after the first) and wall-clock to
the budget (compilation included). With jax 0.9 or newer it stops with one line and exit 2.
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

SMOKE = dict(total_steps=1024, num_envs=8, ppo_unroll_length=16, ppo_num_minibatches=4, ppo_updates_per_batch=1,
             hidden_sizes=[16, 16], ppo_value_hidden_sizes=[16, 16], eval_episodes=4, chunk_iterations=32)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--env", default="inverted_pendulum", help="task name (fpmd_mjx.envs.names())")
    p.add_argument("--config", default=None, metavar="YAML", help="overlay over configs/ppo.yaml")
    p.add_argument("--steps", type=int, default=None, help="env steps per run (default: the config's)")
    p.add_argument("--seeds", type=int, default=1, help="seeds per implementation")
    p.add_argument("--out", default=None, help="write the results as JSON here")
    p.add_argument("--smoke", action="store_true", help="a tiny budget and networks (for tests)")
    return p.parse_args(argv)


def brax_kwargs(cfg, env) -> dict:
    """``brax.training.agents.ppo.train`` arguments equal to ``cfg``'s (see the module doc)."""
    from brax.training.agents.ppo import networks as ppo_networks

    from fpmd_mjx.networks import ACTIVATIONS

    nets = functools.partial(ppo_networks.make_ppo_networks, policy_hidden_layer_sizes=tuple(cfg.hidden_sizes),
                             value_hidden_layer_sizes=tuple(cfg.ppo_value_hidden_sizes),
                             activation=ACTIVATIONS[cfg.activation])
    return dict(num_timesteps=cfg.total_steps, episode_length=env.episode_length, num_envs=cfg.num_envs,
                learning_rate=cfg.actor_lr, entropy_cost=cfg.ppo_entropy_cost, discounting=cfg.gamma,
                unroll_length=cfg.ppo_unroll_length, batch_size=cfg.num_envs // cfg.ppo_num_minibatches,
                num_minibatches=cfg.ppo_num_minibatches, num_updates_per_batch=cfg.ppo_updates_per_batch,
                normalize_observations=True, reward_scaling=cfg.reward_scale,
                clipping_epsilon=cfg.ppo_clipping_epsilon,
                clipping_epsilon_value=cfg.ppo_clipping_epsilon if cfg.ppo_clip_value else None,
                vf_loss_coefficient=2 * cfg.ppo_value_coef,  # brax's value loss is 0.5 x its coefficient x MSE
                gae_lambda=cfg.ppo_gae_lambda, max_grad_norm=cfg.grad_clip or None,
                network_factory=nets, num_eval_envs=cfg.eval_episodes, deterministic_eval=True,
                num_evals=max(2, cfg.total_steps // cfg.eval_every + 1))


def run_brax(cfg) -> dict:
    """brax's PPO on our task: final eval return, steady steps/s, wall-clock."""
    from brax.training.agents.ppo import train as ppo

    from fpmd_mjx import envs
    from fpmd_mjx.envs.wrappers import ScaledActions

    env = ScaledActions(envs.make(cfg.env, profile=cfg.physics_profile))
    evals = []

    def progress(step, metrics):
        evals.append((int(step), float(metrics["eval/episode_reward"]), float(metrics.get("training/sps", "nan"))))

    t0 = time.time()
    ppo.train(environment=env, seed=cfg.seed, progress_fn=progress, **brax_kwargs(cfg, env))
    return {"impl": "brax", "seed": cfg.seed, "env_steps": evals[-1][0], "wall_s": time.time() - t0,
            "steady_steps_per_s": evals[-1][2], "final_eval_return": evals[-1][1], "evals": evals}


def run_ours(cfg) -> dict:
    """The project's PPO through the runner: the same figures."""
    from fpmd_mjx.runner import run

    with tempfile.TemporaryDirectory() as out:
        t0 = time.time()
        res = run(cfg, out, progress=False)
        wall = time.time() - t0
        with open(os.path.join(out, "metrics.csv"), newline="") as f:
            rows = list(csv.DictReader(f))
    rates = [(int(r["env_steps"]), float(r["steps_per_s"])) for r in rows if r["steps_per_s"]]
    full = cfg.chunk_iterations * cfg.num_envs
    steady = [rate for (prev, _), (step, rate) in itertools.pairwise(rates) if step - prev == full]
    evals = [(int(r["env_steps"]), float(r["eval_return"])) for r in rows if r["eval_return"]]
    return {"impl": "ours", "seed": cfg.seed, "env_steps": res.env_steps, "wall_s": wall,
            "steady_steps_per_s": statistics.median(steady) if steady else float("nan"),
            "final_eval_return": float(res.eval_returns[0]), "evals": evals}


def summary(rows: list) -> list:
    """Mean ± std over seeds per implementation."""
    out = []
    for impl in ("brax", "ours"):
        sel = [r for r in rows if r["impl"] == impl]
        ret = [r["final_eval_return"] for r in sel]
        out.append({"impl": impl, "seeds": len(sel), "return_mean": statistics.mean(ret),
                    "return_std": statistics.pstdev(ret), "steady_steps_per_s": statistics.median(
                        r["steady_steps_per_s"] for r in sel), "wall_s": statistics.mean(r["wall_s"] for r in sel)})
    return out


def main(argv=None) -> int:
    args = parse_args(argv)
    from fpmd_mjx.jax_setup import start_brax_comparison

    if why := start_brax_comparison():
        return reporting.error(why)
    import jax

    from fpmd_mjx.config import ConfigError, cli_overrides, load_config

    try:
        over = dict(SMOKE) if args.smoke else cli_overrides(args.config, None, total_steps=args.steps)
        base = load_config("ppo", args.env, over)
        if base.num_envs % base.ppo_num_minibatches:
            raise ConfigError(f"num_envs={base.num_envs} must be a multiple of ppo_num_minibatches="
                              f"{base.ppo_num_minibatches} (brax's minibatches are whole env sequences)")
    except ConfigError as e:
        return reporting.error(str(e))
    rows = []
    for k in range(args.seeds):
        cfg = base.replace(seed=base.seed + k)
        rows += [run_brax(cfg), run_ours(cfg)]
    table = summary(rows)
    dev = jax.devices()[0]
    print(f"{base.env}, {base.total_steps} env steps, {base.num_envs} envs x {base.ppo_unroll_length} steps per "
          f"update, {args.seeds} seed(s), jax {jax.__version__} on {dev.platform}")
    lines = [f"{'impl':<6} {'final eval return':>22} {'steady env steps/s':>19} {'wall s':>8}"]
    lines += [f"{r['impl']:<6} {r['return_mean']:>12.1f} ± {r['return_std']:<7.1f} {r['steady_steps_per_s']:>19.0f} "
              f"{r['wall_s']:>8.1f}" for r in table]
    return reporting.report("\n".join(lines), args.out, {
        "env": base.env, "config": base.to_dict(), "device": f"{dev.platform}:{dev.device_kind}",
        "jax": jax.__version__, "seeds": args.seeds, "summary": table, "runs": rows})


if __name__ == "__main__":
    sys.exit(main())
