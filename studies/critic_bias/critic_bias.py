"""Does the critic overestimate? Its Q against the discounted returns the data actually got.

    python studies/critic_bias/critic_bias.py runs/locomotion/fpmd_m-hopper-seed2/hopper-fpmd_m/seed_0 \
        --window 10000 --json studies/critic_bias/hopper_fpmd_m_seed2.json

For every periodic checkpoint of a run directory (or the steps given by ``--steps``) this
restores the full training state, replay buffer included, and compares, over the transitions
of the last ``--window`` env steps before the checkpoint (the data of the policy being
trained, nearly), the online critic's min(Q1, Q2)(s, a) at the stored state and action with
the discounted Monte Carlo return that transition went on to get in its episode:

    G_t = reward_scale * r_t + gamma * G_{t+1},   G = reward_scale * r at a termination,

both in the units the critic learns (rewards times ``reward_scale``). The buffer holds
``num_envs`` interleaved streams (item ``t * num_envs + e`` is env ``e``'s step ``t``), and no
truncation flag: an episode cut by the time limit shows as a next observation that is not the
following transition's observation. Its return after the cut is unknown, so a transition
counts only when its episode terminated inside the buffer or when the cut (or the end of the
data) is at least ``--horizon`` steps ahead, where the missing tail weighs gamma^horizon of it
(0.7% at 500). The returns are those of the exploration policy that collected the data
(best-of-N, then noise) over the window, and the critic's Q is of the policy at the checkpoint:
at a few thousand env steps apart the two are close, and a critic that is sound agrees with
them up to that difference; one whose Q stands at twice the returns is overestimating.

Prints, per checkpoint: the transitions counted, mean Q, mean return, the mean of Q - G and
its ratio to mean G, and the correlation of Q and G; ``--json`` stores the same rows.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from fpmd_mjx import jax_setup  # noqa: E402,F401  (quiets XLA's logs: imported before jax)

import jax  # noqa: E402
import numpy as np  # noqa: E402

from fpmd_mjx.agents import critic as C  # noqa: E402
from fpmd_mjx.checkpoint import CheckpointError  # noqa: E402
from fpmd_mjx.rebuild import checkpoint_states  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", help="a run directory with checkpoints/ (one seed)")
    p.add_argument("--steps", type=int, nargs="*", default=None, help="checkpoint env steps (default: all kept)")
    p.add_argument("--window", type=int, default=10000, help="env steps of data before each checkpoint (default 10000)")
    p.add_argument("--horizon", type=int, default=500, help="steps a transition needs ahead of a time-limit cut")
    p.add_argument("--json", default=None, help="write the rows here")
    return p.parse_args(argv)


def discounted_returns(reward: np.ndarray, terminated: np.ndarray, cut: np.ndarray, gamma: float,
                       horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Per stream, the discounted return of every step and whether it is known.

    reward, terminated, cut: (T, E), one column per env stream in time order; ``cut[t]``: the
    episode ended after step ``t`` without a termination (time limit), or the data ends there.
    Returns ``(G, known)``, both (T, E): ``known`` where the episode terminated inside the data
    or the cut is at least ``horizon`` steps ahead."""
    T, E = reward.shape
    G, known = np.zeros((T, E)), np.zeros((T, E), bool)
    g, to_cut, ended = np.zeros(E), np.zeros(E, int), np.zeros(E, bool)
    for t in range(T - 1, -1, -1):
        term, c = terminated[t] > 0, cut[t]
        g = reward[t] + gamma * np.where(term | c, 0.0, g)
        # steps to the episode's time-limit cut (or the data's end); an episode that terminates is known throughout
        to_cut = np.where(c, 0, to_cut + 1)
        ended = np.where(term, True, np.where(c, False, ended))
        G[t], known[t] = g, ended | (to_cut >= horizon)
    return G, known


def by_stream(x: np.ndarray, item_ndim: int, T: int, E: int) -> np.ndarray:
    """The buffer's items (any leading storage axes, items in the order written) as (T, E, ...):
    ``T`` vector steps of ``E`` envs."""
    item = x.shape[x.ndim - item_ndim:] if item_ndim else ()
    return x.reshape((-1,) + item)[:T * E].reshape((T, E) + item)


def study(run_dir: str, steps, window: int, horizon: int) -> list[dict]:
    rows, q_fn = [], None
    for step, cfg, trainer, state in checkpoint_states(run_dir, steps):
        if q_fn is None:
            qnet = C.make_critic(cfg, trainer.env.observation_size, trainer.env.action_size)[0]
            q_fn = jax.jit(lambda p, o, a: C.q_min(qnet, p, o, a))
        exp = jax.tree.map(np.asarray, state.buffer.experience)
        n = int(np.asarray(state.iteration)) * cfg.num_envs  # items written (the buffer never wraps here)
        if n > cfg.buffer_size:
            raise SystemExit(f"error: the buffer of {run_dir!r} wrapped (buffer_size {cfg.buffer_size} < {n})")
        E = cfg.num_envs
        T = n // E
        item_ndim = {"obs": 1, "action": 1, "reward": 0, "next_obs": 1, "terminated": 0}
        obs, act, rew, nxt, term = (by_stream(exp[k], item_ndim[k], T, E) for k in item_ndim)
        cut = np.zeros((T, E), bool)
        cut[:-1] = (term[:-1] == 0) & np.any(nxt[:-1] != obs[1:], axis=-1)
        cut[-1] = term[-1] == 0
        G, known = discounted_returns(cfg.reward_scale * rew, term, cut, cfg.gamma, horizon)
        lo = max(0, T - window // E)
        sel = known[lo:]
        o, a, g = obs[lo:][sel], act[lo:][sel], G[lo:][sel]
        params = state.agent.critic.params
        q = np.concatenate([np.asarray(q_fn(params, o[i:i + 4096], a[i:i + 4096])) for i in range(0, len(o), 4096)])
        rows.append({"env_steps": step, "transitions": int(len(g)), "q_mean": float(q.mean()),
                     "return_mean": float(g.mean()), "bias_mean": float((q - g).mean()),
                     "bias_ratio": float((q - g).mean() / abs(g.mean())), "corr": float(np.corrcoef(q, g)[0, 1]),
                     "terminations": int(term[lo:].sum())})
        r = rows[-1]
        print(f"{step:>8}  n={r['transitions']:>6}  Q={r['q_mean']:8.2f}  G={r['return_mean']:8.2f}  "
              f"Q-G={r['bias_mean']:8.2f} ({100 * r['bias_ratio']:+.0f}%)  corr={r['corr']:.2f}  "
              f"terminations={r['terminations']}", flush=True)
    return rows


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        rows = study(args.run_dir, args.steps, args.window, args.horizon)
    except CheckpointError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump({"run_dir": args.run_dir, "window": args.window, "horizon": args.horizon, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
