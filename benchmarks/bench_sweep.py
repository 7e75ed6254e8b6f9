"""Throughput of one sweep program: the same R runs with the run axis sharded over N
devices vs vmapped on one device (steady-state env steps per second, all runs together).

    python benchmarks/bench_sweep.py                        # 4 runs, 4 host-platform CPU devices
    python benchmarks/bench_sweep.py --runs 8 --devices 8 --json docs/results/bench_sweep.json

On a CPU the devices are XLA's host platform split into N (``--xla_force_host_platform_
device_count``), which share the machine's cores: the ratio says how much of the cores
one vmapped program leaves idle, not what N GPUs would give.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--env", default="inverted_pendulum")
    p.add_argument("--algo", default="fpmd_m")
    p.add_argument("--runs", type=int, default=4, help="runs in the program (seeds)")
    p.add_argument("--devices", type=int, default=4, help="devices to shard the runs over")
    p.add_argument("--iters", type=int, default=200, help="iterations per timed chunk")
    p.add_argument("--repeats", type=int, default=3, help="timed chunks (the median is reported)")
    p.add_argument("--config", default="configs/quick_ip.yaml", help="config overlay (default: the quick recipe)")
    p.add_argument("--json", default=None, help="write the results here")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={args.devices}".strip()
    from fpmd_mjx.jax_setup import enable_compilation_cache

    enable_compilation_cache()
    import jax
    import numpy as np

    from fpmd_mjx.config import load_config, load_overlay
    from fpmd_mjx.reporting import write_json
    from fpmd_mjx.programs import RunRows, programs

    if len(jax.devices()) < args.devices:
        print(f"error: --devices {args.devices}: only {len(jax.devices())} present", file=sys.stderr)
        return 2
    over = {**(load_overlay(args.config) if args.config else {}), "chunk_iterations": args.iters,
            "warmup_steps": 1000, "buffer_size": 100_000}
    cfg = load_config(args.algo, args.env, over)
    meshes = {"1 device (vmap)": None,
              f"{args.devices} devices (sharded)": jax.sharding.Mesh(np.array(jax.devices()[:args.devices]), ("runs",))}
    out = {"env": cfg.env, "algo": cfg.algo, "runs": args.runs, "num_envs": cfg.num_envs,
           "updates_per_step": cfg.updates_per_step, "platform": jax.devices()[0].platform, "results": {}}
    for name, mesh in meshes.items():
        progs = programs(cfg, args.runs, (), mesh)
        rows = RunRows(args.runs, mesh)
        keys = rows.put([np.asarray(jax.random.PRNGKey(k)) for k in range(args.runs)])
        state = jax.block_until_ready(progs.warmup({}, progs.init({}, keys)))
        state = jax.block_until_ready(progs.chunk({}, state)[0])  # compile
        times = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            state = jax.block_until_ready(progs.chunk({}, state)[0])
            times.append(time.perf_counter() - t)
        rate = args.runs * cfg.num_envs * args.iters / float(np.median(times))
        out["results"][name] = {"env_steps_per_s": rate}
        print(f"{name}: {rate:,.0f} env steps/s over {args.runs} runs")
    (one, many) = (r["env_steps_per_s"] for r in out["results"].values())
    out["ratio"] = many / one
    print(f"{args.devices} devices vs 1: {out['ratio']:.2f}x")
    if args.json:
        write_json(args.json, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
