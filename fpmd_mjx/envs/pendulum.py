"""InvertedPendulum-v4 and InvertedDoublePendulum-v4 on MJX."""
from __future__ import annotations

import jax
import jax.numpy as jnp

from fpmd_mjx.envs.base import MjxTask, TaskSpec, newton_caps, normal_noise, uniform_noise


class InvertedPendulum(MjxTask):
    """InvertedPendulum-v4 (frame_skip 2, 1000 steps).

    obs (4) = qpos (cart x, pole angle), qvel.  reward = 1 every step.
    terminated when obs is not finite or |pole angle| > 0.2.
    reset: qpos, qvel = init + U(-0.01, 0.01).
    """

    def _sample_state(self, rng):
        k_q, k_v = jax.random.split(rng)
        return uniform_noise(k_q, self.init_qpos, 0.01), uniform_noise(k_v, self.init_qvel, 0.01)

    def _obs(self, data):
        return jnp.concatenate([data.qpos, data.qvel])

    def _reward(self, data0, data1, action):
        one = jnp.ones((), data1.qpos.dtype)
        return one, {"reward_survive": one}

    def _terminated(self, data):
        obs = self._obs(data)
        return ~jnp.all(jnp.isfinite(obs)) | (jnp.abs(obs[1]) > 0.2)


class InvertedDoublePendulum(MjxTask):
    """InvertedDoublePendulum-v4 (frame_skip 5, 1000 steps).

    obs (11) = qpos[:1], sin(qpos[1:]) (2), cos(qpos[1:]) (2),
    clip(qvel, -10, 10) (3), clip(qfrc_constraint, -10, 10) (3).
    reward = 10 - (0.01 x^2 + (y - 2)^2) - (1e-3 v1^2 + 5e-3 v2^2), with
    (x, _, y) = site_xpos[0] (the tip) and (v1, v2) = qvel[1:3], after the step.
    terminated when y <= 1.  reset: qpos + U(-0.1, 0.1), qvel + 0.1 N(0, 1).
    """

    def _sample_state(self, rng):
        k_q, k_v = jax.random.split(rng)
        return uniform_noise(k_q, self.init_qpos, 0.1), normal_noise(k_v, self.init_qvel, 0.1)

    def _obs(self, data):
        q = data.qpos
        return jnp.concatenate([q[:1], jnp.sin(q[1:]), jnp.cos(q[1:]),
                                jnp.clip(data.qvel, -10.0, 10.0),
                                jnp.clip(data.qfrc_constraint, -10.0, 10.0)])

    def _reward(self, data0, data1, action):
        x, _, y = data1.site_xpos[0]
        v1, v2 = data1.qvel[1], data1.qvel[2]
        dist = 0.01 * x**2 + (y - 2.0) ** 2
        vel = 1e-3 * v1**2 + 5e-3 * v2**2
        alive = jnp.asarray(10.0, x.dtype)
        return alive - dist - vel, {"reward_survive": alive, "dist_penalty": -dist,
                                    "vel_penalty": -vel}

    def _terminated(self, data):
        return data.site_xpos[0, 2] <= 1.0


# solver_caps: see locomotion.SPECS (only joint limits here: MJX uses at most one
# Newton iteration along Gymnasium-driven trajectories).
SPECS = {
    "inverted_pendulum": (InvertedPendulum, TaskSpec(
        "inverted_pendulum", "InvertedPendulum-v4", "inverted_pendulum.xml", 2, 1000, 4,
        solver_caps=newton_caps(8))),
    "inverted_double_pendulum": (InvertedDoublePendulum, TaskSpec(
        "inverted_double_pendulum", "InvertedDoublePendulum-v4",
        "inverted_double_pendulum.xml", 5, 1000, 11, solver_caps=newton_caps(8))),
}
