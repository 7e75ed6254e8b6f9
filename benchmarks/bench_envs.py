"""Env-step throughput: batched MJX (VecEnv under jit + lax.scan) vs C MuJoCo.

For each task and batch size B: one jitted ``lax.scan`` of ``--steps``
``VecEnv.step`` calls with random actions (auto-reset included), compiled first
(compile time reported separately), then timed with ``block_until_ready``.
Env steps/s = B * steps / seconds.  Beside it, single-threaded C MuJoCo through
the Gymnasium v4 env (random actions, reset on termination/truncation).

    python benchmarks/bench_envs.py --env hopper,half_cheetah --batch-sizes 1,128 --steps 100 --out bench.json
    python benchmarks/bench_envs.py --env hopper,half_cheetah,walker2d,ant --batch-sizes 64 --compare-caps
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time



def bench_mjx(name: str, batch: int, steps: int, solver_caps: bool = True, profile: str = "faithful",
              physics: str = "jax") -> dict:
    """Compile and time one scan of ``steps`` VecEnv steps at batch ``batch``."""
    import jax

    from fpmd_mjx import envs
    from fpmd_mjx.envs.wrappers import VecEnv

    vec = VecEnv(envs.make(name, solver_caps, profile, physics=physics, warp_envs=batch), batch)
    env = vec.env

    def rollout(state, key):
        acts = jax.random.uniform(key, (steps, batch, env.action_size),
                                  minval=env.action_low, maxval=env.action_high)
        state, rewards = jax.lax.scan(lambda s, a: (vec.step(s, a),) * 2, state, acts)
        return state, rewards.reward.sum()

    state = jax.jit(vec.reset)(jax.random.PRNGKey(0))
    t0 = time.perf_counter()
    compiled = jax.jit(rollout).lower(state, jax.random.PRNGKey(1)).compile()
    compile_s = time.perf_counter() - t0
    jax.block_until_ready(compiled(state, jax.random.PRNGKey(2)))  # warm-up run
    t0 = time.perf_counter()
    jax.block_until_ready(compiled(state, jax.random.PRNGKey(3)))
    run_s = time.perf_counter() - t0
    return {"task": name, "batch": batch, "steps": steps, "compile_s": compile_s,
            "run_s": run_s, "steps_per_s": batch * steps / run_s}


def bench_c(name: str, steps: int) -> float:
    """Single-threaded C MuJoCo (Gymnasium v4) env steps per second."""
    from fpmd_mjx.envs.gym_reference import make_gym_env

    env = make_gym_env(name)
    env.reset(seed=0)
    env.action_space.seed(0)
    acts = [env.action_space.sample() for _ in range(steps)]
    t0 = time.perf_counter()
    for a in acts:
        _, _, term, trunc, _ = env.step(a)
        if term or trunc:
            env.reset()
    return steps / (time.perf_counter() - t0)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="all", help="task name, comma list, or 'all'")
    parser.add_argument("--batch-sizes", default="1,128,1024")
    parser.add_argument("--steps", type=int, default=100, help="scanned steps per timing")
    parser.add_argument("--c-steps", type=int, default=5000, help="C MuJoCo steps timed")
    parser.add_argument("--compare-caps", action="store_true",
                        help="also time MJX with the v4 XMLs' solver limits (no caps) and print capped/uncapped")
    parser.add_argument("--profiles", default=None, metavar="P1,P2",
                        help="also time these physics profiles (fpmd_mjx.envs.PROFILES) and print their speed-up")
    parser.add_argument("--out", default=None, help="write JSON here")
    args = parser.parse_args(argv)
    import jax

    from fpmd_mjx import envs
    from fpmd_mjx.jax_setup import enable_compilation_cache

    enable_compilation_cache()
    try:
        names = envs.names() if args.env == "all" else [envs.canonical_name(n) for n in args.env.split(",")]
        batches = [int(b) for b in args.batch_sizes.split(",")]
        profiles = [envs.base.check_profile(p) for p in args.profiles.split(",")] if args.profiles else []
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    rows = []
    print(f"{'task':26s} {'batch':>6s} {'compile s':>9s} {'MJX steps/s':>12s} {'C steps/s':>10s} {'MJX/C':>7s}"
          + (f" {'uncapped steps/s':>17s} {'capped/uncapped':>16s}" if args.compare_caps else "")
          + "".join(f" {p + ' x':>12s}" for p in profiles))
    for name in names:
        c_sps = bench_c(name, args.c_steps)
        for batch in batches:
            row = bench_mjx(name, batch, args.steps) | {"c_steps_per_s": c_sps}
            row["ratio"] = row["steps_per_s"] / c_sps
            line = (f"{name:26s} {batch:6d} {row['compile_s']:9.1f} {row['steps_per_s']:12.0f} "
                    f"{c_sps:10.0f} {row['ratio']:7.3f}")
            if args.compare_caps:
                row["uncapped_steps_per_s"] = bench_mjx(name, batch, args.steps, solver_caps=False)["steps_per_s"]
                row["caps_speedup"] = row["steps_per_s"] / row["uncapped_steps_per_s"]
                line += f" {row['uncapped_steps_per_s']:17.0f} {row['caps_speedup']:16.2f}"
            for p in profiles:
                sps = bench_mjx(name, batch, args.steps, profile=p)["steps_per_s"]
                row[f"{p}_steps_per_s"], row[f"{p}_speedup"] = sps, sps / row["steps_per_s"]
                line += f" {row[f'{p}_speedup']:12.2f}"
            rows.append(row)
            print(line, flush=True)
    if args.out:
        meta = {"device": str(jax.devices()[0]), "platform": platform.platform(),
                "args": vars(args)}
        with open(args.out, "w") as f:
            json.dump({"meta": meta, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
