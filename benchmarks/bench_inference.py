"""Per-action policy inference latency, as the paper's Table 2 (SAC / diffusion / FPMD-R / FPMD-M).

    python benchmarks/bench_inference.py --out docs/results/bench_inference_cpu.json
    python benchmarks/bench_inference.py --batch-sizes 1 1024 --iters 500
    python benchmarks/bench_inference.py --smoke          # a few calls per row (tests)
    python benchmarks/bench_inference.py --exported --out docs/results/bench_inference_exported_cpu.json

Each row jits ``agent.sample(params, obs, key, nfe)`` for one algorithm and NFE with
randomly initialised parameters (latency does not depend on the values) at the
Ant task's sizes (obs 27, act 8) and the paper's networks (3 x 256, mish), calls it
``--warmup`` times, then times ``--iters`` calls one by one with
``block_until_ready`` and reports the median (and 10th/90th percentiles) per
call. At batch B the per-action time is the call time / B. Ratios are to SAC at the
same batch size. The paper measured on an RTX 6000 GPU; numbers here are for
whatever JAX device is present (printed).

``--exported`` times deployed policies instead: each row's policy (random parameters,
Ant's actuator range) goes through ``scripts/export_policy.py``'s export to an artifact
directory and is loaded back with ``fpmd_mjx.deploy.load``; a timed call is the
deployed ``policy(obs, key)`` (input checks, the exported computation, actions in the
actuator range). Rows: the one-step policies (SAC, FPMD-R and FPMD-M at NFE 1) and
DPMD at 20.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from fpmd_mjx import reporting  # noqa: E402  (standard library only; jax comes later)

OBS_DIM, ACT_DIM = 27, 8  # Ant-v4
EXPORTED_ROWS = (("SAC", "sac", 1), ("DPMD", "dpmd", 20), ("FPMD-R", "fpmd_r", 1), ("FPMD-M", "fpmd_m", 1))
ROWS = (  # (label, algo, nfe)
    ("SAC", "sac", 1),
    ("DPMD", "dpmd", 20),
    ("FPMD-R", "fpmd_r", 1),
    ("FPMD-R", "fpmd_r", 20),
    ("FPMD-M", "fpmd_m", 1),
)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 1024], help="observations per call")
    p.add_argument("--iters", type=int, default=300, help="timed calls per row")
    p.add_argument("--warmup", type=int, default=10, help="untimed calls per row after compiling")
    p.add_argument("--env", default="ant", help="task whose config (network sizes) is used; sizes stay 27/8")
    p.add_argument("--out", default=None, help="write the results as JSON here")
    p.add_argument("--smoke", action="store_true", help="3 timed calls, 1 warm-up (for tests)")
    p.add_argument("--exported", action="store_true", help="time exported policies loaded with fpmd_mjx.deploy")
    return p.parse_args(argv)


def time_calls(fn, args, iters: int, warmup: int) -> dict:
    """Median / p10 / p90 wall time of ``fn(*args)`` in ms, after a compile and ``warmup`` calls."""
    import numpy as np

    fn(*args).block_until_ready()  # compile
    for _ in range(warmup):
        fn(*args).block_until_ready()
    ts = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn(*args).block_until_ready()
        ts.append(time.perf_counter() - t0)
    ms = 1e3 * np.asarray(ts)
    return {"median_ms": float(np.median(ms)), "p10_ms": float(np.percentile(ms, 10)),
            "p90_ms": float(np.percentile(ms, 90))}


def bench_row(algo: str, nfe: int, batch: int, env: str, iters: int, warmup: int, exported: bool = False) -> dict:
    import jax

    from fpmd_mjx.agents import make_agent
    from fpmd_mjx.config import load_config

    cfg = load_config(algo, env)
    agent = make_agent(cfg, OBS_DIM, ACT_DIM)
    params = agent.policy_params(agent.init(jax.random.PRNGKey(0)))
    obs = jax.random.normal(jax.random.PRNGKey(1), (batch, OBS_DIM))
    if exported:
        fn, args = _deployed(agent, params, algo, nfe), (obs, jax.random.PRNGKey(2))
    else:
        fn, args = jax.jit(lambda p, o, k: agent.sample(p, o, k, nfe)), (params, obs, jax.random.PRNGKey(2))
    t = time_calls(fn, args, iters, warmup)
    return {"algo": algo, "nfe": nfe, "batch": batch, "hidden_sizes": list(cfg.hidden_sizes),
            "activation": cfg.activation, **t, "per_action_ms": t["median_ms"] / batch}


def _deployed(agent, params, algo: str, nfe: int):
    """``policy(obs, key)`` of the artifact of ``agent``'s evaluation policy at Ant's
    sizes and actuator range, written and loaded back as a user would."""
    import tempfile

    from fpmd_mjx import deploy, envs
    from fpmd_mjx.export import deploy_fns, export_act, write_artifact

    ant = envs.make("ant")
    out = tempfile.mkdtemp(prefix="fpmd_mjx_policy_")
    dparams = deploy_fns(agent, ant, nfe)[0](params)
    write_artifact(out, export_act(agent, ant, dparams, nfe, platforms=("cpu",)), dparams, ant,
                   {"task": "ant", "algo": algo, "nfe": nfe})
    return deploy.load(out)


def run(batch_sizes, iters: int, warmup: int, env: str = "ant", exported: bool = False) -> dict:
    import jax

    dev = jax.devices()[0]
    rows = []
    for batch in batch_sizes:
        for label, algo, nfe in EXPORTED_ROWS if exported else ROWS:
            r = bench_row(algo, nfe, batch, env, iters, warmup, exported)
            rows.append({"label": label, **r})
        sac = next(r for r in rows if r["batch"] == batch and r["algo"] == "sac")
        for r in rows:
            if r["batch"] == batch:
                r["ratio_to_sac"] = r["median_ms"] / sac["median_ms"]
    return {"device": f"{dev.platform}:{dev.device_kind}", "jax": jax.__version__, "exported": exported,
            "obs_dim": OBS_DIM, "act_dim": ACT_DIM, "iters": iters, "warmup": warmup, "rows": rows}


def format_table(res: dict) -> str:
    lines = [f"device: {res['device']}  ({'exported policies, ' if res.get('exported') else ''}jax {res['jax']}, obs {res['obs_dim']}, act {res['act_dim']}, "
             f"median of {res['iters']} calls)",
             f"{'algo':<8} {'NFE':>4} {'batch':>6} {'ms/call':>9} {'p10-p90 ms':>15} {'ms/action':>10} {'x SAC':>7}"]
    for r in res["rows"]:
        lines.append(f"{r['label']:<8} {r['nfe']:>4} {r['batch']:>6} {r['median_ms']:>9.3f} "
                     f"{r['p10_ms']:>7.3f}-{r['p90_ms']:<7.3f} {r['per_action_ms']:>10.5f} {r['ratio_to_sac']:>7.2f}")
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    from fpmd_mjx.jax_setup import enable_compilation_cache

    enable_compilation_cache()
    iters, warmup = (3, 1) if args.smoke else (args.iters, args.warmup)
    if iters < 1 or warmup < 0 or any(b < 1 for b in args.batch_sizes):
        print("error: --iters and --batch-sizes must be >= 1, --warmup >= 0", file=sys.stderr)
        return 2
    res = run(args.batch_sizes, iters, warmup, args.env, args.exported)
    return reporting.report(format_table(res), args.out, res)


if __name__ == "__main__":
    sys.exit(main())
