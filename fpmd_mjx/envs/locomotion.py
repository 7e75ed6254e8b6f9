"""Locomotion tasks: Ant, HalfCheetah, Hopper, Walker2d, Humanoid, Swimmer (v4).

Every class mirrors ``gymnasium/envs/mujoco/<task>_v4.py`` with its default
constructor arguments: forward reward = (x after - x before) / dt using the v4
position (``qpos[0]``, the torso body's ``xpos`` for Ant, the mass-weighted
``xipos`` centre for Humanoid), quadratic control cost, healthy reward and the
v4 termination ranges.  The ``healthy_reward`` is paid on every step because
``terminate_when_unhealthy=True`` (v4: ``float(is_healthy or terminate) * w``).
"""
from __future__ import annotations

import jax.numpy as jnp
import jax
import numpy as np

from fpmd_mjx.envs.base import MjxTask, TaskSpec, newton_caps, normal_noise, uniform_noise


class _Locomotion(MjxTask):
    """Shared pieces: reset noise, forward velocity from a position function.

    Class attributes set by subclasses: ``noise`` (reset_noise_scale),
    ``qvel_normal`` (qvel noise is ``scale * N(0,1)`` instead of uniform),
    ``skip`` (qpos entries dropped from obs), ``fwd_w``, ``ctrl_w``,
    ``healthy_w``, ``clip_qvel`` (obs qvel clipped to [-10, 10]).
    """

    noise, qvel_normal, skip = 0.1, False, 1
    fwd_w, ctrl_w, healthy_w, clip_qvel = 1.0, 0.1, 0.0, False

    def _sample_state(self, rng):
        k_q, k_v = jax.random.split(rng)
        qpos = uniform_noise(k_q, self.init_qpos, self.noise)
        noise = normal_noise if self.qvel_normal else uniform_noise
        return qpos, noise(k_v, self.init_qvel, self.noise)

    def _obs(self, data):
        qvel = jnp.clip(data.qvel, -10.0, 10.0) if self.clip_qvel else data.qvel
        return jnp.concatenate([data.qpos[self.skip:], qvel])

    def _position(self, data) -> jax.Array:
        """x position (scalar) whose difference gives the forward velocity."""
        return data.qpos[0]

    def _reward(self, data0, data1, action):
        x_vel = (self._position(data1) - self._position(data0)) / self.dt
        forward = self.fwd_w * x_vel
        ctrl = self.ctrl_w * jnp.sum(jnp.square(self._ctrl_for_cost(data1, action)))
        healthy = jnp.asarray(self.healthy_w, forward.dtype)
        terms = {"reward_forward": forward, "reward_ctrl": -ctrl, "x_velocity": x_vel}
        if self.healthy_w:
            terms["reward_survive"] = healthy
        return forward + healthy - ctrl, terms

    def _ctrl_for_cost(self, data, action):
        return action


class Ant(_Locomotion):
    """Ant-v4: obs = qpos[2:] (13) + qvel (14) = 27; use_contact_forces=False,
    so no contact cost and no cfrc_ext in obs.  Healthy: qpos and qvel finite and
    0.2 <= z <= 1.0 (inclusive, as v4).  qvel reset noise is normal."""

    noise, qvel_normal, skip = 0.1, True, 2
    fwd_w, ctrl_w, healthy_w = 1.0, 0.5, 1.0

    def __init__(self, spec, solver_caps=True):
        super().__init__(spec, solver_caps)
        self._torso = self.body_id("torso")

    def _position(self, data):
        return data.xpos[self._torso, 0]

    def _terminated(self, data):
        finite = jnp.all(jnp.isfinite(data.qpos)) & jnp.all(jnp.isfinite(data.qvel))
        z = data.qpos[2]
        return ~(finite & (z >= 0.2) & (z <= 1.0))


class HalfCheetah(_Locomotion):
    """HalfCheetah-v4: obs = qpos[1:] (8) + qvel (9) = 17; never terminates;
    qvel reset noise normal (0.1)."""

    noise, qvel_normal, skip = 0.1, True, 1
    fwd_w, ctrl_w = 1.0, 0.1


class Hopper(_Locomotion):
    """Hopper-v4: obs = qpos[1:] (5) + clip(qvel, -10, 10) (6) = 11.
    Healthy (strict inequalities, as v4): every entry of concat(qpos, qvel)[2:]
    in (-100, 100), z = qpos[1] > 0.7, angle = qpos[2] in (-0.2, 0.2)."""

    noise, skip, clip_qvel = 5e-3, 1, True
    fwd_w, ctrl_w, healthy_w = 1.0, 1e-3, 1.0

    def _terminated(self, data):
        state = jnp.concatenate([data.qpos, data.qvel])[2:]
        z, angle = data.qpos[1], data.qpos[2]
        healthy = jnp.all((state > -100.0) & (state < 100.0)) & (z > 0.7) & (z < jnp.inf)
        return ~(healthy & (angle > -0.2) & (angle < 0.2))


class Walker2d(_Locomotion):
    """Walker2d-v4: obs = qpos[1:] (8) + clip(qvel, -10, 10) (9) = 17.
    Healthy: 0.8 < z < 2.0 and -1 < angle < 1 (z = qpos[1], angle = qpos[2])."""

    noise, skip, clip_qvel = 5e-3, 1, True
    fwd_w, ctrl_w, healthy_w = 1.0, 1e-3, 1.0

    def _terminated(self, data):
        z, angle = data.qpos[1], data.qpos[2]
        return ~((z > 0.8) & (z < 2.0) & (angle > -1.0) & (angle < 1.0))


class Humanoid(_Locomotion):
    """Humanoid-v4: obs = qpos[2:] (22), qvel (23), cinert (14x10), cvel
    (14x6), qfrc_actuator (23), cfrc_ext (14x6) = 376, all flattened row-major
    like ``data.<field>.flat``.  cfrc_ext comes from ``mjx.rne_postconstraint``
    (Gymnasium calls ``mj_rnePostConstraint`` after every step).  Forward
    position = x of the mass-weighted mean of body ``xipos``.  ctrl cost uses
    ``data.ctrl``.  Healthy: 1.0 < z < 2.0."""

    noise, skip = 1e-2, 2
    fwd_w, ctrl_w, healthy_w = 1.25, 0.1, 5.0

    def __init__(self, spec, solver_caps=True):
        super().__init__(spec, solver_caps)
        mass = np.array(self.mj_model.body_mass)
        self._mass_w = mass / mass.sum()

    def _position(self, data):
        return jnp.sum(self._mass_w * data.xipos[:, 0])

    def _ctrl_for_cost(self, data, action):
        return data.ctrl

    def _obs(self, data):
        parts = [data.qpos[2:], data.qvel, data._impl.cinert, data.cvel,
                 data.qfrc_actuator, data._impl.cfrc_ext]
        return jnp.concatenate([jnp.ravel(p) for p in parts])

    def _terminated(self, data):
        z = data.qpos[2]
        return ~((z > 1.0) & (z < 2.0))


class Swimmer(_Locomotion):
    """Swimmer-v4: obs = qpos[2:] (3) + qvel (5) = 8; forward from qpos[0];
    uniform reset noise 0.1 on qpos and qvel; never terminates."""

    noise, skip = 0.1, 2
    fwd_w, ctrl_w = 1.0, 1e-4


def _spec(name, gym_id, xml, frame_skip, obs_size, **kw) -> TaskSpec:
    return TaskSpec(name, gym_id, xml, frame_skip, 1000, obs_size, **kw)


# solver_caps: Newton iterations at least twice the most MJX used along
# Gymnasium-driven trajectories; line search twice the smallest cap that left every
# measured step bit-identical (Hopper 2, Walker2d and HalfCheetah 3, Ant 4), 8 where
# not probed (studies/solver_usage/solver_usage.py --probe-ls; docs/tasks.md, "Solver caps").
SPECS = {
    "ant": (Ant, _spec("ant", "Ant-v4", "ant.xml", 5, 27, solver_caps=newton_caps(16))),
    "half_cheetah": (HalfCheetah, _spec("half_cheetah", "HalfCheetah-v4", "half_cheetah.xml", 5, 17,
                                        solver_caps=newton_caps(12, 6))),
    "hopper": (Hopper, _spec("hopper", "Hopper-v4", "hopper.xml", 4, 11, solver_caps=newton_caps(12, 4))),
    "walker2d": (Walker2d, _spec("walker2d", "Walker2d-v4", "walker2d.xml", 4, 17, solver_caps=newton_caps(16, 6))),
    # humanoid.xml asks for PGS, which MJX lacks: Newton (parity effect measured in
    # docs/tasks.md; the XML's 50 iterations are capped like every task's).
    "humanoid": (Humanoid, _spec("humanoid", "Humanoid-v4", "humanoid.xml", 5, 376,
                                 options=(("solver", "newton"),), rne_post=True, solver_caps=newton_caps(16))),
    "swimmer": (Swimmer, _spec("swimmer", "Swimmer-v4", "swimmer.xml", 4, 8, solver_caps=newton_caps(8))),
}
