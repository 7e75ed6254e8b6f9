"""C MuJoCo (float64) Ant-v4: how often does C keep a contact whose distance
exceeds the pair's margin?  MJX marks such contacts inactive
(``mjx/_src/constraint.py``: ``active = dist - includemargin < 0``), so every
such contact is a constraint-set difference between C and MJX.

    python validation/ant/contacts.py [--steps 2000]
"""
import argparse

import mujoco
import numpy as np

from fpmd_mjx.envs.gym_reference import make_gym_env


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=2000)
    args = parser.parse_args(argv)
    env = make_gym_env("ant")
    env.reset(seed=0)
    env.action_space.seed(0)
    m, d = env.unwrapped.model, env.unwrapped.data
    n_con = n_beyond = n_steps_beyond = 0
    for _ in range(args.steps):
        _, _, term, trunc, _ = env.step(env.action_space.sample())
        mujoco.mj_forward(m, d)  # contacts of the current state
        beyond = [c.dist > c.includemargin for c in d.contact[:d.ncon]]
        n_con += d.ncon
        n_beyond += sum(beyond)
        n_steps_beyond += any(beyond)
        if term or trunc:
            env.reset()
    print(f"ant C MuJoCo: {args.steps} random-action steps, {n_con} contacts, "
          f"{n_beyond} with dist > includemargin ({n_steps_beyond} steps have one); "
          f"geom margins {sorted(set(np.round(m.geom_margin, 4)))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
