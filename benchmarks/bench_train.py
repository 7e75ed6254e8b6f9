"""Where a training iteration's time goes, and what 1M env steps cost.

For each task and algorithm at its configuration's loop shape (paper defaults: 5
envs, 1 update per vector step), after compilation, each piece timed alone as a
jitted ``lax.scan`` of ``--iters`` repetitions on the device present:

* ``env``: ``VecEnv.step`` with random actions (MJX physics, auto-reset);
* ``act``: the exploration policy on the envs' observations (best-of-N
  candidates + noise for FPMD/DPMD, a tanh-Gaussian draw for SAC);
* ``collect``: act + env step + replay-buffer write (the first half of an iteration);
* ``update``: ``updates_per_step`` gradient updates on sampled batches;
* ``candidates``: the best-of-N selection at the update's batch size (FPMD/DPMD),
  the part of each update that SAC does not have;
* ``iteration``: the whole training iteration (what the trainer runs).

Printed in ms per iteration, with env steps/s and the projected wall-clock for
``--project`` env steps (warm-up at the env-only rate, the rest at the iteration
rate).  CPU figures are for ratios only.

    python benchmarks/bench_train.py --env hopper --algos fpmd_r fpmd_m sac --iters 50 --out bench_train.json
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from fpmd_mjx.jax_setup import enable_compilation_cache  # noqa: E402  (quiets XLA logs before jax)

PIECES = ("env", "act", "collect", "update", "candidates", "iteration")


def _time_scan(body, carry, iters: int) -> tuple[float, float]:
    """(compile + first run s, ms per repetition) of ``iters`` scanned calls of ``body(carry) -> carry``."""
    import jax

    fn = jax.jit(lambda c: jax.lax.scan(lambda c, _: (body(c), None), c, None, length=iters)[0])
    t = time.perf_counter()
    jax.block_until_ready(fn(carry))
    first = time.perf_counter() - t
    t = time.perf_counter()
    jax.block_until_ready(fn(carry))
    return first, 1e3 * (time.perf_counter() - t) / iters


def bench(cfg, iters: int) -> dict:
    """ms per iteration of every piece of ``cfg``'s training iteration (see module doc)."""
    import jax
    import jax.numpy as jnp

    from fpmd_mjx.envs.wrappers import VecEnv
    from fpmd_mjx.envs.wrappers import scale_action
    from fpmd_mjx.train import make_train

    trainer = make_train(cfg)
    agent, env = trainer.agent, trainer.env
    vec = VecEnv(env, cfg.num_envs)
    state = jax.jit(trainer.init)(jax.random.PRNGKey(0))
    state, _ = jax.jit(trainer.warmup)(state)  # a filled buffer for the updates
    obs = state.env_state.obs
    batch_obs = jnp.resize(obs, (cfg.batch_size, obs.shape[-1]))

    def env_only(c):
        s, k = c
        k, ka = jax.random.split(k)
        a = jax.random.uniform(ka, (cfg.num_envs, env.action_size), minval=-1.0, maxval=1.0)
        return vec.step(s, scale_action(env, a)), k

    def act(c, o=obs):
        a_sum, k = c
        k, ka = jax.random.split(k)
        return a_sum + agent.explore(state.agent, o, ka).sum(), k

    key = jax.random.PRNGKey(1)
    ms, compile_s = {}, {}
    for name, body, carry in (
            ("env", env_only, (state.env_state, key)),
            ("act", act, (jnp.zeros(()), key)),
            ("collect", lambda s: trainer.collect(s)[0], state),
            ("update", lambda s: trainer.update(s)[0], state),
            ("candidates", lambda c: act(c, batch_obs), (jnp.zeros(()), key)),
            ("iteration", lambda s: trainer.update(trainer.collect(s)[0])[0], state)):
        if name == "candidates" and cfg.algo == "sac":
            continue
        compile_s[name], ms[name] = _time_scan(body, carry, iters)
    if "candidates" in ms:  # one selection per update
        ms["candidates"] *= cfg.updates_per_step
    return {"ms": ms, "compile_s": compile_s}


def project_s(cfg, ms: dict, steps: int) -> float:
    """Seconds for ``steps`` env steps: warm-up at the env-only rate, the rest at the iteration rate."""
    warm = min(cfg.warmup_steps, steps) / cfg.num_envs
    return 1e-3 * (warm * ms["env"] + max(steps - cfg.warmup_steps, 0) / cfg.num_envs * ms["iteration"])


def fmt_time(s: float) -> str:
    return f"{s / 3600:.1f} h" if s >= 3600 else f"{s / 60:.1f} min"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--env", nargs="+", default=["hopper"])
    p.add_argument("--algos", nargs="+", default=["fpmd_r", "fpmd_m", "sac"])
    p.add_argument("--iters", type=int, default=50, help="repetitions timed per piece")
    p.add_argument("--num-envs", type=int, default=None)
    p.add_argument("--updates-per-step", type=int, default=None)
    p.add_argument("--project", type=int, default=1_000_000, help="env steps of the projected run")
    p.add_argument("--config", default=None, help="YAML overlay, as scripts/train.py --config")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--out", default=None, help="write the rows as JSON")
    args = p.parse_args(argv)
    enable_compilation_cache()
    import jax

    from fpmd_mjx.config import ConfigError, load_config, load_overlay, parse_overrides

    try:
        over = load_overlay(args.config) if args.config else {}
        over.update(parse_overrides(args.set))
        if args.num_envs:
            over["num_envs"] = args.num_envs
        if args.updates_per_step:
            over["updates_per_step"] = args.updates_per_step
        cfgs = {(e, a): load_config(a, e, over) for e in args.env for a in args.algos}
        cfgs = {k: c.replace(buffer_size=min(c.buffer_size, 100_000)) for k, c in cfgs.items()}  # memory
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    device = f"{jax.devices()[0].platform}:{jax.devices()[0].device_kind}"
    print(f"device: {device}; ms per training iteration, each piece timed alone")
    print(f"{'task':<26}{'algo':<8}{'envs':>5}{'upd':>5}" + "".join(f"{p:>11}" for p in PIECES)
          + f"{'steps/s':>9}{'upd ms':>8}{'vs SAC':>7}{f'{args.project:.0e} steps':>12}")
    rows = []
    for (env_name, algo), cfg in cfgs.items():
        r = bench(cfg, args.iters)
        ms = r["ms"]
        row = {"task": cfg.env, "algo": algo, "num_envs": cfg.num_envs, "updates_per_step": cfg.updates_per_step,
               "batch_size": cfg.batch_size, "ms": ms, "compile_s": r["compile_s"], "device": device,
               "env_steps_per_s": 1e3 * cfg.num_envs / ms["iteration"],
               "ms_per_update": ms["update"] / cfg.updates_per_step,
               "projected_s": project_s(cfg, ms, args.project), "projected_steps": args.project}
        rows.append(row)
    sac = {r["task"]: r["ms_per_update"] for r in rows if r["algo"] == "sac"}
    for row in rows:
        rel = row["ms_per_update"] / sac[row["task"]] if row["task"] in sac else float("nan")
        row["update_vs_sac"] = rel
        print(f"{row['task']:<26}{row['algo']:<8}{row['num_envs']:>5}{row['updates_per_step']:>5}"
              + "".join(f"{row['ms'].get(p, float('nan')):>11.2f}" for p in PIECES)
              + f"{row['env_steps_per_s']:>9.0f}{row['ms_per_update']:>8.2f}{rel:>7.1f}"
              f"{fmt_time(row['projected_s']):>12}", flush=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"device": device, "args": vars(args), "rows": rows}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
