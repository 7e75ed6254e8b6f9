"""Manipulation tasks: Reacher-v4 and Pusher-v4.

Both v4 tasks compute their reward from body positions read *before* the
simulation step (``data0``), so the reward of a transition depends on s, not
s'.  Goals (and Pusher's object) are joints, so they live in qpos.

Random goal/object placement: v4 draws candidates i.i.d. until one is
accepted.  We draw ``_CANDIDATES`` candidates at once and keep the first
accepted one, which has the same distribution (the first accepted draw of an
i.i.d. sequence) unless all are rejected: probability 0.215**32 ~ 4e-22
(Reacher) and 0.38**32 ~ 4e-14 (Pusher); then the last candidate is used.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from fpmd_mjx.envs.base import MjxTask, TaskSpec, newton_caps, uniform_noise

_CANDIDATES = 32


def first_accepted(cands: jax.Array, ok: jax.Array) -> jax.Array:
    """Row of ``cands (n, d)`` at the first True of ``ok (n,)`` (last row if none)."""
    idx = jnp.where(jnp.any(ok), jnp.argmax(ok), cands.shape[0] - 1)
    return cands[idx]


class Reacher(MjxTask):
    """Reacher-v4 (frame_skip 2, 50 steps).

    obs (11) = cos(qpos[:2]), sin(qpos[:2]), qpos[2:] (goal x, y), qvel[:2],
    xpos[fingertip] - xpos[target] (3).
    reward = -|fingertip - target| (before the step) - sum(a^2).
    reset: qpos = qpos0 + U(-0.1, 0.1); goal ~ U(-0.2, 0.2)^2 conditioned on
    |goal| < 0.2; qvel = U(-0.005, 0.005) with the goal's qvel = 0.
    """

    def __init__(self, spec, solver_caps=True):
        super().__init__(spec, solver_caps)
        self._tip, self._target = self.body_id("fingertip"), self.body_id("target")

    def _sample_state(self, rng):
        k_q, k_g, k_v = jax.random.split(rng, 3)
        qpos = uniform_noise(k_q, self.init_qpos, 0.1)
        goals = jax.random.uniform(k_g, (_CANDIDATES, 2), minval=-0.2, maxval=0.2)
        goal = first_accepted(goals, jnp.linalg.norm(goals, axis=-1) < 0.2)
        qvel = uniform_noise(k_v, self.init_qvel, 0.005).at[-2:].set(0.0)
        return qpos.at[-2:].set(goal), qvel

    def _obs(self, data):
        theta = data.qpos[:2]
        vec = data.xpos[self._tip] - data.xpos[self._target]
        return jnp.concatenate([jnp.cos(theta), jnp.sin(theta), data.qpos[2:], data.qvel[:2], vec])

    def _reward(self, data0, data1, action):
        vec = data0.xpos[self._tip] - data0.xpos[self._target]
        dist, ctrl = -jnp.linalg.norm(vec), -jnp.sum(jnp.square(action))
        return dist + ctrl, {"reward_dist": dist, "reward_ctrl": ctrl}


class Pusher(MjxTask):
    """Pusher-v4 (frame_skip 5, 100 steps), v4 ``pusher.xml`` (object density 1e-5).

    obs (23) = qpos[:7], qvel[:7], xpos of tips_arm, object, goal.
    reward (before the step) = -|object - goal| - 0.1 sum(a^2) - 0.5 |object - tips_arm|.
    reset: arm qpos = qpos0 exactly (v4 adds no qpos noise); object (x, y) with
    x ~ U(-0.3, 0), y ~ U(-0.2, 0.2) conditioned on |(x, y)| > 0.17; goal = (0, 0);
    qvel = U(-0.005, 0.005) with the object's and goal's qvel = 0.
    """

    def __init__(self, spec, solver_caps=True):
        super().__init__(spec, solver_caps)
        self._tips = self.body_id("tips_arm")
        self._object, self._goal = self.body_id("object"), self.body_id("goal")

    def _sample_state(self, rng):
        k_c, k_v = jax.random.split(rng)
        low, high = jnp.array([-0.3, -0.2]), jnp.array([0.0, 0.2])
        cyl = jax.random.uniform(k_c, (_CANDIDATES, 2), minval=low, maxval=high)
        cyl = first_accepted(cyl, jnp.linalg.norm(cyl, axis=-1) > 0.17)
        qpos = jnp.asarray(self.init_qpos).at[-4:-2].set(cyl).at[-2:].set(0.0)
        qvel = uniform_noise(k_v, self.init_qvel, 0.005).at[-4:].set(0.0)
        return qpos, qvel

    def _obs(self, data):
        xpos = data.xpos
        return jnp.concatenate([data.qpos[:7], data.qvel[:7], xpos[self._tips],
                                xpos[self._object], xpos[self._goal]])

    def _reward(self, data0, data1, action):
        xpos = data0.xpos
        near = -jnp.linalg.norm(xpos[self._object] - xpos[self._tips])
        dist = -jnp.linalg.norm(xpos[self._object] - xpos[self._goal])
        ctrl = -jnp.sum(jnp.square(action))
        reward = dist + 0.1 * ctrl + 0.5 * near
        return reward, {"reward_dist": dist, "reward_ctrl": ctrl, "reward_near": near}


SPECS = {
    "reacher": (Reacher, TaskSpec("reacher", "Reacher-v4", "reacher.xml", 2, 50, 11, solver_caps=newton_caps(8))),
    "pusher": (Pusher, TaskSpec("pusher", "Pusher-v4", "pusher.xml", 5, 100, 23, solver_caps=newton_caps(16))),
}
