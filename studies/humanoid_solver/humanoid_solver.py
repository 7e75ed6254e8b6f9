"""How far does replacing Humanoid's PGS solver move the C MuJoCo dynamics?

C MuJoCo only (float64): from the same start states (1 to 30 random steps after a v4
reset, solver warm start zero) and the same random actions, compare Humanoid-v4 as shipped
(PGS, 50 iterations) with the same env after ``model.opt.solver = <solver>`` (the MJX
port's change). Prints the median max-abs obs error at steps 1, 10, 50 and the step-1
reward error, per solver.

    python studies/humanoid_solver/humanoid_solver.py [--states 16] [--horizon 50]
"""
from __future__ import annotations

import argparse
import os
import sys

import mujoco
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from fpmd_mjx.envs.gym_reference import make_gym_env  # noqa: E402
from fpmd_mjx.parity import gym_rollout  # noqa: E402


def random_starts(gym_env, n_states: int, seed: int) -> list:
    """``n_states`` (qpos, qvel) pairs, each 1 to 30 random steps after a reset."""
    rng = np.random.default_rng(seed)
    gym_env.action_space.seed(seed)
    env = gym_env.unwrapped
    starts = []
    for i in range(n_states):
        gym_env.reset(seed=seed * 10_000 + i)
        for _ in range(int(rng.integers(1, 31))):
            if env.step(gym_env.action_space.sample())[2]:
                gym_env.reset(seed=seed * 20_000 + i)
        starts.append((env.data.qpos.copy(), env.data.qvel.copy()))
    return starts


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--states", type=int, default=16)
    parser.add_argument("--horizon", type=int, default=50)
    args = parser.parse_args(argv)
    pgs = make_gym_env("humanoid")
    cold = np.zeros(pgs.unwrapped.model.nv)
    starts = [(q, v, cold) for q, v in random_starts(pgs, args.states, seed=0)]
    rng = np.random.default_rng(1)
    low, high = pgs.action_space.low, pgs.action_space.high
    actions = rng.uniform(low, high, (args.states, args.horizon, len(low)))
    ref = [gym_rollout(pgs, q, v, w, a) for (q, v, w), a in zip(starts, actions)]
    for label, solver in (("newton", mujoco.mjtSolver.mjSOL_NEWTON), ("cg", mujoco.mjtSolver.mjSOL_CG)):
        env = make_gym_env("humanoid")
        env.unwrapped.model.opt.solver = solver
        out = [gym_rollout(env, q, v, w, a) for (q, v, w), a in zip(starts, actions)]
        obs_err = np.array([np.abs(o[0] - r[0]).max(axis=-1) for o, r in zip(out, ref)])
        rew_err = np.array([np.abs(o[1] - r[1]) for o, r in zip(out, ref)])
        steps = [k for k in (1, 10, 50) if k <= args.horizon]
        errs = ", ".join(f"step {k}: {np.median(obs_err[:, k - 1]):.2e}" for k in steps)
        print(f"C PGS vs C {label}: median max-abs obs error {errs}; "
              f"step-1 reward error max {rew_err[:, 0].max():.2e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
