"""How spread are FPMD-R's best-of-N candidates at the Euler steps it trains with?

    python studies/flow_spread/flow_spread.py runs/locomotion/fpmd_r-half_cheetah-seed0/half_cheetah-fpmd_r/seed_0 \
        --steps 150000 175000 --nfe 5 20 50 --power 1 2 --json studies/flow_spread/half_cheetah_fpmd_r_seed0.json

FPMD-R draws its N candidates per state (Eq. 18) by integrating the learned flow from the
Gaussian prior with ``flow_steps`` Euler steps. Few Euler steps of a flow towards a narrow
target under-disperse it: for a Gaussian target N(mu, sigma^2) and the exact velocity field of
the straight-line path (Eq. 5), K Euler steps give a sample of std ``sigma * r(sigma, K)``
with r < 1, the more so the narrower the target (``--theory`` prints r); a grid with shorter steps near
t = 1 (``flows.euler_grid``, the ``flow_grid_power`` config key) much less. This measures it on a
trained policy: for every chosen periodic checkpoint of a run directory it restores the full
training state, takes the next observations of the last ``--states`` transitions of the replay
buffer, draws ``num_particles`` candidates per state from the online policy (the one the
update samples from) at each ``--nfe``, all from the same prior draw, and prints the
candidates' std over N in normalised action units, averaged over states and action dimensions
(the ``policy_spread`` of metrics.csv, which is measured at ``flow_steps``). The large-NFE
figure approximates the spread of the distribution the flow has learned.

While the run is still training, point this at a copy of its run directory (or of the
checkpoints wanted, under ``checkpoints/``): the program rotates its periodic checkpoints out.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pathlib
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from fpmd_mjx import jax_setup  # noqa: E402,F401  (quiets XLA's logs: imported before jax)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from fpmd_mjx import flows  # noqa: E402
from fpmd_mjx.agents.fpmd import flow_policy  # noqa: E402
from fpmd_mjx.checkpoint import CheckpointError  # noqa: E402
from fpmd_mjx.rebuild import checkpoint_states  # noqa: E402


def euler_std_ratio(sigma: float, nfe: int, power: float = 1.0) -> float:
    """r(sigma, K): the std of K Euler steps (on ``flows.euler_grid(K, power)``) of the exact straight-path
    flow from N(0, 1) to N(mu, sigma^2), over sigma. The field is v(x, t) = mu + k(t) (x - t mu)
    with k(t) = (t sigma^2 - (1 - t)) / ((1 - t)^2 + t^2 sigma^2), so a step of length h from t
    multiplies the deviation from the mean path by 1 + h k(t)."""
    r, ts = 1.0, np.asarray(flows.euler_grid(nfe, power), np.float64)
    for t, h in zip(ts[:-1], np.diff(ts)):
        r *= 1.0 + h * (t * sigma**2 - (1.0 - t)) / ((1.0 - t) ** 2 + t**2 * sigma**2)
    return abs(r) / sigma


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", nargs="?", help="a run directory with checkpoints/ (one seed)")
    p.add_argument("--steps", type=int, nargs="*", default=None, help="checkpoint env steps (default: all kept)")
    p.add_argument("--nfe", type=int, nargs="+", default=[1, 2, 5, 10, 20, 50], help="Euler steps to sample with")
    p.add_argument("--power", type=float, nargs="+", default=[1.0],
                   help="Euler grid powers to sample with (1: uniform steps; the flow_grid_power config key)")
    p.add_argument("--states", type=int, default=1024, help="states from the end of the buffer (default 1024)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--theory", action="store_true", help="print r(sigma, K) for the Gaussian case and stop")
    p.add_argument("--json", default=None, help="write the rows here")
    return p.parse_args(argv)


def label(nfe: int, power: float) -> str:
    return f"nfe_{nfe}" if power == 1.0 else f"nfe_{nfe}_power_{power:g}"


def theory_rows(nfes, powers) -> list[dict]:
    return [{"sigma": s, **{label(k, p): euler_std_ratio(s, k, p) for p in powers for k in nfes}}
            for s in (0.3, 0.15, 0.08, 0.05)]


def study(run_dir: str, steps, nfes, powers, n_states: int, seed: int) -> list[dict]:
    rows, spread_jit = [], None
    for step, cfg, trainer, state in checkpoint_states(run_dir, steps):
        if spread_jit is None:
            # FPMD-R's own sampler (prior_scale * N(0, I), Euler steps, clipped), one per grid power
            samplers = {p: flow_policy(dataclasses.replace(cfg, flow_grid_power=p), trainer.env.action_size).sample
                        for p in powers}

            def spread(policy, obs, key, nfe, power):
                """The std over N of ``num_particles`` candidates per state, averaged: (B, N, act_dim) -> scalar."""
                cands = samplers[power](policy, jnp.repeat(obs[:, None], cfg.num_particles, axis=1), key, nfe)
                return jnp.std(cands, axis=1).mean()

            spread_jit = jax.jit(spread, static_argnums=(3, 4))
        written = int(np.asarray(state.iteration)) * cfg.num_envs
        nxt = np.asarray(state.buffer.experience["next_obs"]).reshape(-1, trainer.env.observation_size)
        obs = jnp.asarray(nxt[max(0, written - n_states):written])
        key = jax.random.PRNGKey(seed)
        row = {"env_steps": step, "states": int(obs.shape[0]), "flow_steps": cfg.flow_steps,
               **{label(k, p): float(spread_jit(state.agent.policy, obs, key, k, p)) for p in powers for k in nfes}}
        rows.append(row)
        cells = "  ".join(f"{k}: {v:.4f}" for k, v in row.items() if k.startswith("nfe"))
        print(f"{step:>8}  {cells}", flush=True)
    return rows


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.theory:
        for r in theory_rows(args.nfe, args.power):
            print(f"sigma {r['sigma']:.2f}  " + "  ".join(f"{k}: {v:.3f}" for k, v in r.items() if k != "sigma"))
        return 0
    if not args.run_dir:
        print("error: give a run directory (or --theory)", file=sys.stderr)
        return 2
    try:
        rows = study(args.run_dir, args.steps, args.nfe, args.power, args.states, args.seed)
    except CheckpointError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.json:
        out = pathlib.Path(args.json)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"run_dir": args.run_dir, "states": args.states, "rows": rows,
                                   "theory": theory_rows(args.nfe, args.power)}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
