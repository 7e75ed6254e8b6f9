"""What each opt-in physics profile buys and costs: MJX step rate beside parity with C MuJoCo.

    python studies/profiles/profiles.py --env hopper,ant --out studies/profiles/profiles_cpu.json
    python studies/profiles/profiles.py --env hopper --starts 4 --horizon 10 --batch 8 --smoke

For each task and each profile of ``fpmd_mjx.envs.PROFILES`` (``faithful``: the task's
solver caps, which change no result bit; ``newton4`` / ``newton2`` / ``newton1``: at most
that many Newton iterations per physics step): the batched MJX env-step rate at
``--batch`` (random actions, one compiled scan, ``benchmarks/bench_envs.py``'s timing) and
its ratio to ``faithful``, and ``fpmd_mjx.parity``'s comparison against Gymnasium v4
over every action style: the one-step max observation error, whether the task's
one-step tolerances (``parity.TOLERANCES``) still hold, termination mismatches, and the
median number of steps until a rollout's observation error first exceeds the threshold.
CPU rates are for ratios only; ``benchmarks/device_check.py`` measures the GPU side.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from fpmd_mjx.jax_setup import enable_compilation_cache


def measure(task: str, profile: str, batch: int, steps: int, starts: int, horizon: int) -> dict:
    import numpy as np

    from benchmarks.bench_envs import bench_mjx
    from fpmd_mjx.parity import STYLES, check, compare_task

    rate = bench_mjx(task, batch, steps, profile=profile)["steps_per_s"]
    res = compare_task(task, STYLES, starts, horizon, profile=profile)
    return {"task": task, "profile": profile, "batch": batch, "steps_per_s": rate,
            "obs_max": max(r["obs_max"] for r in res), "rew_max": max(r["rew_max"] for r in res),
            "term_mismatch": sum(r["term_mismatch"] for r in res),
            "steps_to_div_median": float(np.median([r["steps_to_div_median"] for r in res])),
            "horizon": horizon, "violations": [v for r in res for v in check(task, r)]}


def markdown(rows: list[dict]) -> str:
    lines = ["| task | profile | env steps/s (batch) | x faithful | one-step max obs error | tolerances | "
             "term. mismatches | steps to 1e-2 divergence (median) |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['task']} | {r['profile']} | {r['steps_per_s']:,.0f} ({r['batch']}) | {r['speedup']:.2f} "
                     f"| {r['obs_max']:.1e} | {'hold' if not r['violations'] else 'exceeded'} "
                     f"| {r['term_mismatch']} | {r['steps_to_div_median']:.0f} of {r['horizon']} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--env", default="hopper,ant", help="comma list of tasks")
    p.add_argument("--profiles", default=None, help="comma list (default: all of fpmd_mjx.envs.PROFILES)")
    p.add_argument("--batch", type=int, default=64, help="envs per timed MJX step")
    p.add_argument("--steps", type=int, default=100, help="scanned steps per timing")
    p.add_argument("--starts", type=int, default=32, help="Gymnasium-driven states per action style")
    p.add_argument("--horizon", type=int, default=50, help="rollout length")
    p.add_argument("--smoke", action="store_true", help="tiny sizes (tests)")
    p.add_argument("--out", default=None, help="write the rows as JSON")
    args = p.parse_args(argv)
    enable_compilation_cache()
    from fpmd_mjx import envs

    try:
        tasks = [envs.canonical_name(t) for t in args.env.split(",")]
        profiles = [envs.base.check_profile(x) for x in args.profiles.split(",")] if args.profiles else list(envs.PROFILES)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.smoke:
        args.batch, args.steps, args.starts, args.horizon = min(args.batch, 8), 10, 2, 5
    if "faithful" not in profiles:
        profiles.insert(0, "faithful")
    rows = []
    for task in tasks:
        for prof in profiles:
            rows.append(measure(task, prof, args.batch, args.steps, args.starts, args.horizon))
            base = next(r for r in rows if r["task"] == task and r["profile"] == "faithful")
            rows[-1]["speedup"] = rows[-1]["steps_per_s"] / base["steps_per_s"]
            print(markdown(rows[-1:]).splitlines()[-1], flush=True)
    import jax

    table = markdown(rows)
    print(f"\ndevice: {jax.devices()[0].platform}; parity: {args.starts} states x 3 styles, horizon {args.horizon}\n")
    print(table)
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"device": jax.devices()[0].platform, "args": vars(args), "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
