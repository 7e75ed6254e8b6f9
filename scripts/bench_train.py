"""Training throughput: env steps/s and gradient updates/s of whole training
iterations (act + MJX step + buffer + updates) beside the raw batched MJX env
step rate at the same batch size, measured in the same run, plus compile times.

    python scripts/bench_train.py --env hopper half_cheetah --algos fpmd_r fpmd_m sac --iters 50

The learning overhead is ``env-only steps/s / training steps/s``. Uses the
algorithm's config (paper defaults: 5 envs, 1 update per step) unless overridden
with --num-envs / --updates-per-step / --set.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from fpmd_mjx.jax_setup import enable_compilation_cache  # noqa: E402  (quiets XLA logs before jax)


def _timed(fn, *args):
    import jax

    t = time.perf_counter()
    out = jax.block_until_ready(fn(*args))
    return out, time.perf_counter() - t


def bench_env(name: str, num_envs: int, iters: int) -> dict:
    """Raw batched env steps/s: a jitted scan of VecEnv.step with random actions."""
    import jax

    from fpmd_mjx import envs

    vec = envs.make_vec(name, num_envs)
    act = vec.env.action_size

    def rollout(state, key):
        def step(s, k):
            a = jax.random.uniform(k, (num_envs, act), minval=-1.0, maxval=1.0)
            return vec.step(s, a), None
        return jax.lax.scan(step, state, jax.random.split(key, iters))[0]

    fn = jax.jit(rollout)
    state = jax.jit(vec.reset)(jax.random.PRNGKey(0))
    _, compile_s = _timed(fn, state, jax.random.PRNGKey(1))
    _, run_s = _timed(fn, state, jax.random.PRNGKey(2))
    return {"env_steps_per_s": iters * num_envs / run_s, "compile_s": compile_s}


def bench_algo(cfg) -> dict:
    """Steps/s and updates/s of ``cfg.chunk_iterations`` learning iterations (after compile)."""
    import jax

    from fpmd_mjx.train import make_train

    trainer = make_train(cfg)
    state = jax.jit(trainer.init)(jax.random.PRNGKey(0))
    state, _ = jax.jit(trainer.warmup)(state)
    chunk = jax.jit(trainer.train_chunk)
    state, compile_s = _timed(lambda s: chunk(s)[0], state)
    _, run_s = _timed(lambda s: chunk(s)[0], state)
    n = cfg.chunk_iterations
    return {"env_steps_per_s": n * cfg.num_envs / run_s, "updates_per_s": n * cfg.updates_per_step / run_s,
            "compile_s": compile_s}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--env", nargs="+", default=["hopper", "half_cheetah"])
    p.add_argument("--algos", nargs="+", default=["fpmd_r", "fpmd_m", "sac"])
    p.add_argument("--iters", type=int, default=50, help="training iterations timed per measurement")
    p.add_argument("--num-envs", type=int, default=None)
    p.add_argument("--updates-per-step", type=int, default=None)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--out", default=None, help="write the rows as JSON")
    args = p.parse_args(argv)
    enable_compilation_cache()
    import jax

    from fpmd_mjx.config import ConfigError, load_config, parse_overrides

    try:
        over = parse_overrides(args.set)
        over.update(chunk_iterations=args.iters, warmup_steps=0, total_steps=10**7, buffer_size=100_000)
        if args.num_envs:
            over["num_envs"] = args.num_envs
        if args.updates_per_step:
            over["updates_per_step"] = args.updates_per_step
        cfgs = {(e, a): load_config(a, e, over) for e in args.env for a in args.algos}
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    device = f"{jax.devices()[0].platform}:{jax.devices()[0].device_kind}"
    print(f"device: {device}")
    rows = []
    hdr = f"{'task':<24}{'algo':<8}{'envs':>5}{'upd/step':>9}{'train steps/s':>15}{'updates/s':>11}" \
          f"{'env-only steps/s':>18}{'overhead x':>12}{'compile s':>11}"
    print(hdr)
    for env_name in args.env:
        some = next(c for (e, _), c in cfgs.items() if e == env_name)
        env_row = bench_env(some.env, some.num_envs, args.iters)
        for algo in args.algos:
            cfg = cfgs[(env_name, algo)]
            r = bench_algo(cfg)
            row = {"task": cfg.env, "algo": algo, "num_envs": cfg.num_envs, "updates_per_step": cfg.updates_per_step,
                   "train_env_steps_per_s": r["env_steps_per_s"], "updates_per_s": r["updates_per_s"],
                   "env_only_steps_per_s": env_row["env_steps_per_s"],
                   "overhead": env_row["env_steps_per_s"] / r["env_steps_per_s"],
                   "train_compile_s": r["compile_s"], "env_compile_s": env_row["compile_s"], "device": device}
            rows.append(row)
            print(f"{row['task']:<24}{algo:<8}{row['num_envs']:>5}{row['updates_per_step']:>9}"
                  f"{row['train_env_steps_per_s']:>15.0f}{row['updates_per_s']:>11.0f}"
                  f"{row['env_only_steps_per_s']:>18.0f}{row['overhead']:>12.1f}{row['train_compile_s']:>11.1f}",
                  flush=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"device": device, "rows": rows}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
