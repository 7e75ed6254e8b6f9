"""Shared base class of the MJX ports of the Gymnasium MuJoCo v4 tasks.

A task is a ``brax.envs.base.PipelineEnv`` (backend ``"mjx"``) so brax's own
training agents run on it unchanged.  Physics state is an ``mjx.Data``; we
drive ``mujoco.mjx`` directly instead of brax's mjx pipeline because the
Gymnasium observations need fields (``cinert``, ``cfrc_ext`` after
``rne_postconstraint``) that brax's pipeline state does not carry.

Conventions copied from Gymnasium v4 (``gymnasium/envs/mujoco/*_v4.py``):

* the model is the v4 XML from the installed gymnasium package, loaded at run
  time, with the option changes listed in ``TaskSpec.options`` (MJX needs some);
* one env step = ``frame_skip`` calls of ``mjx.step`` with ``ctrl = action``;
  body positions read after the step are the ones MuJoCo computed in its last
  forward pass (exactly as ``data.xpos`` after ``mj_step`` in C);
* ``set_state(qpos, qvel)`` = ``mj_forward``: see :meth:`MjxTask.state_from_qpos_qvel`.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Callable

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
from brax.envs.base import PipelineEnv, State
from mujoco import mjx

from fpmd_mjx.envs import mjx_corrections


def gym_asset_path(xml: str) -> str:
    """Absolute path of ``xml`` inside the installed gymnasium MuJoCo assets."""
    import gymnasium

    return os.path.join(os.path.dirname(gymnasium.__file__), "envs", "mujoco", "assets", xml)


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    """Static description of one task.

    Attributes:
      name: canonical name, e.g. ``"half_cheetah"``.
      gym_id: Gymnasium id, e.g. ``"HalfCheetah-v4"``.
      xml: file name in gymnasium's assets dir.
      frame_skip: MuJoCo steps per env step (v4 value).
      episode_length: v4 ``TimeLimit`` ``max_episode_steps``.
      obs_size: observation length (v4 default options).
      options: ``{"solver": "newton", "iterations": 50, ...}`` changes made to
        ``mj_model.opt`` before ``mjx.put_model``; every entry is documented
        with its measured parity effect in docs/tasks.md.
      rne_post: compute ``cfrc_ext`` (``mjx.rne_postconstraint``) after each step.
      physics: MJX backend, ``"jax"`` (default) or ``"warp"`` (MuJoCo Warp behind the
        same API; see ``PHYSICS``).
      warp_envs: warp only: the most envs stepped together (sizes Warp's contact pool,
        ``warp_envs * WARP_CONTACTS_PER_ENV`` contacts shared by all envs of a batch).
      solver_caps: ``(("iterations", n), ("ls_iterations", k))``: caps on the MJX
        model's Newton and line-search iterations (v4 keeps MuJoCo's 100 and 50).
        C MuJoCo stops when converged; MJX's line search always runs
        ``ls_iterations`` under ``vmap``.  Each cap covers what the task uses
        along trajectories with margin, so it changes no result bit
        (``studies/solver_usage/solver_usage.py``, docs/tasks.md).  Never applied to the
        C model.
    """

    name: str
    gym_id: str
    xml: str
    frame_skip: int
    episode_length: int
    obs_size: int
    options: tuple = ()
    rne_post: bool = False
    solver_caps: tuple = ()
    physics: str = "jax"
    warp_envs: int = 64


def newton_caps(newton: int, line_search: int = 8) -> tuple:
    """``TaskSpec.solver_caps`` value: at most ``newton`` Newton iterations of at
    most ``line_search`` line-search iterations each."""
    return (("iterations", newton), ("ls_iterations", line_search))


SOLVERS = {"newton": mujoco.mjtSolver.mjSOL_NEWTON, "cg": mujoco.mjtSolver.mjSOL_CG}

# Opt-in physics profiles: fewer Newton iterations than the task's caps, for speed, at a
# parity cost measured against C MuJoCo (docs/speed.md, "Physics profiles"). "faithful" (the
# default) keeps the caps that change no result bit; "newton1" removes MJX's solver
# while-loop (one host round trip per iteration on a GPU). MJX only: the C model of
# ``load_mj_model(spec)`` is never touched.
PROFILES = {"faithful": None, "newton4": 4, "newton2": 2, "newton1": 1}


def check_profile(profile: str) -> str:
    """``profile`` if it is one of ``PROFILES``; ValueError (one line) otherwise."""
    if profile not in PROFILES:
        raise ValueError(f"unknown physics profile {profile!r}; valid: {', '.join(PROFILES)}")
    return profile


def profile_spec(spec: TaskSpec, profile: str) -> TaskSpec:
    """``spec`` with its Newton cap lowered to the profile's (see ``PROFILES``)."""
    newton = PROFILES[check_profile(profile)]
    if newton is None:
        return spec
    caps = dict(spec.solver_caps)
    caps["iterations"] = min(caps.get("iterations", newton), newton)
    return dataclasses.replace(spec, solver_caps=tuple(caps.items()))


# MJX backends. "jax": MJX's own JAX implementation, with the project's corrections
# (mjx_corrections). "warp": MuJoCo Warp through MJX's FFI (``mjx.put_model(m,
# impl="warp")``; the optional ``warp`` extra): one call per physics step, replayed as a
# CUDA graph on a GPU, usable in jit / vmap / scan; on a CPU it runs too, slowly, after
# minutes of one-time kernel compilation. Warp keeps the contacts of all envs of a batch
# in one pool of ``spec.warp_envs * WARP_CONTACTS_PER_ENV`` (its size sets the cost of a
# step on a CPU, so it follows the batch the trainer steps).
PHYSICS = ("jax", "warp")
WARP_CONTACTS_PER_ENV = 32


def check_physics(physics: str, spec: TaskSpec | None = None) -> str:
    """``physics`` if it is one of ``PHYSICS`` and can run ``spec``'s task; ValueError
    (one line) otherwise (also when the warp extra is not installed)."""
    if physics not in PHYSICS:
        raise ValueError(f"unknown physics {physics!r}; valid: {', '.join(PHYSICS)}")
    if physics == "warp":
        import mujoco.mjx.warp as mjx_warp

        if not getattr(mjx_warp, "WARP_INSTALLED", False):
            raise ValueError("physics=warp needs MuJoCo Warp: pip install -e '.[warp]' (warp-lang)")
        if spec is not None and spec.rne_post:
            raise ValueError(f"physics=warp: {spec.name} observes contact forces (mjx.rne_postconstraint), "
                             f"which MJX computes with the JAX backend only; use physics=jax")
    return physics


def load_mj_model(spec: TaskSpec, solver_caps: bool = False) -> mujoco.MjModel:
    """C model of ``spec``: the v4 XML with ``spec.options`` applied (and
    ``spec.solver_caps`` with ``solver_caps=True``, as MJX runs it)."""
    model = mujoco.MjModel.from_xml_path(gym_asset_path(spec.xml))
    for key, value in spec.options + (spec.solver_caps if solver_caps else ()):
        if key == "solver":
            value = SOLVERS[value]
        setattr(model.opt, key, value)
    return model


class MjxTask(PipelineEnv):
    """One Gymnasium v4 task on MJX (a single, unbatched environment).

    ``solver_caps=False`` runs MJX with the XML's own solver iteration limits
    (v4's settings; slower, the same results: see ``TaskSpec.solver_caps``).
    Subclasses implement ``_sample_state(rng) -> (qpos, qvel)``,
    ``_obs(data) -> (obs_size,)``, ``_reward(data0, data1, action) ->
    (reward, terms)`` and optionally ``_terminated(data1) -> bool``.
    """

    def __init__(self, spec: TaskSpec, solver_caps: bool = True):
        mjx_corrections.ensure_installed()  # before anything of this task is traced
        self.spec, self.solver_caps = spec, bool(solver_caps)
        self.mj_model = load_mj_model(spec, self.solver_caps)
        self.physics = check_physics(spec.physics, spec)
        # this process's own device: in a multi-process job jax.devices()[0] may be another's
        sys = mjx.put_model(self.mj_model, device=jax.local_devices()[0], impl=self.physics)
        super().__init__(sys=sys, backend="mjx", n_frames=spec.frame_skip)
        limited = self.mj_model.actuator_ctrllimited.astype(bool)
        rng = self.mj_model.actuator_ctrlrange
        self.action_low = np.where(limited, rng[:, 0], -np.inf).astype(np.float32)
        self.action_high = np.where(limited, rng[:, 1], np.inf).astype(np.float32)
        self.init_qpos = np.array(self.mj_model.qpos0)
        self.init_qvel = np.zeros(self.mj_model.nv)
        # MJX's physics as jitted functions: JAX traces them once per process and input shape and
        # reuses the trace in every program that resets or steps this task (warm-up, training,
        # evaluation), where re-tracing MJX costs seconds of Python each time. Warp's physics
        # stays unjitted, as it was measured and tested.
        # The corrections are to MJX's JAX backend; Warp runs its own (C-like) step.
        step = mjx.step if self.physics == "warp" else mjx_corrections.step

        def frames(data):
            return self._post(jax.lax.fori_loop(0, spec.frame_skip, lambda _, d: step(self.sys, d), data))

        def forward(data):
            return self._post(mjx.forward(self.sys, data))

        wrap = (lambda f: f) if self.physics == "warp" else jax.jit
        self._frames, self._forward = wrap(frames), wrap(forward)

    # ----- static facts ---------------------------------------------------
    name = property(lambda self: self.spec.name, doc="canonical task name")
    gym_id = property(lambda self: self.spec.gym_id, doc="Gymnasium id, e.g. 'Ant-v4'")
    episode_length = property(lambda self: self.spec.episode_length, doc="v4 time limit")
    observation_size = property(lambda self: self.spec.obs_size, doc="obs length (int)")
    action_size = property(lambda self: int(self.mj_model.nu), doc="actuator count (int)")

    @property
    def dt(self) -> float:
        """Seconds of simulated time per env step (timestep * frame_skip)."""
        return float(self.mj_model.opt.timestep * self.spec.frame_skip)

    def body_id(self, name: str) -> int:
        return mujoco.mj_name2id(self.mj_model, mujoco.mjtObj.mjOBJ_BODY, name)

    # ----- physics ----------------------------------------------------------
    def pipeline_init(self, q, qd, act=None, ctrl=None) -> mjx.Data:
        """``mjx.Data`` at ``(qpos, qvel)`` after ``forward`` (Gymnasium's set_state)."""
        if self.physics == "warp":  # MuJoCo Warp allocates from the C model
            data = mjx.make_data(self.mj_model, impl="warp", naconmax=self.spec.warp_envs * WARP_CONTACTS_PER_ENV)
            data = data.replace(qpos=q, qvel=qd)
        else:
            data = mjx.make_data(self.sys).replace(qpos=q, qvel=qd)
        if ctrl is not None:
            data = data.replace(ctrl=ctrl)
        return self._forward(data)

    def pipeline_step(self, pipeline_state: mjx.Data, action: jax.Array) -> mjx.Data:
        """``frame_skip`` MJX steps with ``ctrl = action`` (Gymnasium's do_simulation)."""
        return self._frames(pipeline_state.replace(ctrl=action))

    def _post(self, data: mjx.Data) -> mjx.Data:
        return mjx.rne_postconstraint(self.sys, data) if self.spec.rne_post else data

    # ----- env API ------------------------------------------------------------
    def reset(self, rng: jax.Array) -> State:
        """Fresh episode: v4 reset-noise distribution; obs ``(obs_size,)``."""
        qpos, qvel = self._sample_state(rng)
        return self.state_from_qpos_qvel(qpos, qvel)

    def state_from_qpos_qvel(self, qpos: jax.Array, qvel: jax.Array) -> State:
        """State at ``qpos (nq,)``, ``qvel (nv,)`` exactly as Gymnasium's
        ``env.unwrapped.set_state(qpos, qvel)`` (which runs ``mj_forward``).
        Reacher/Pusher goals and the Pusher object live in qpos, so nothing else
        is needed.  reward = done = 0 and the metrics are zeros."""
        dtype = jnp.asarray(self.sys.opt.timestep).dtype
        data = self.pipeline_init(jnp.asarray(qpos, dtype), jnp.asarray(qvel, dtype))
        zero_a = jnp.zeros(self.action_size, dtype)
        _, terms = self._reward(data, data, zero_a)
        metrics = {k: jnp.zeros((), dtype) for k in terms}
        metrics["nonfinite_action"] = jnp.zeros((), dtype)
        zero = jnp.zeros((), dtype)
        return State(data, self._obs(data), zero, zero, metrics, {})

    def step(self, state: State, action: jax.Array) -> State:
        """One env step.

        Args:
          state: current single-env State.
          action: ``(action_size,)`` in raw actuator units (no rescaling, as in
            Gymnasium).  Non-finite entries are replaced by 0 (metric
            ``nonfinite_action`` = 1) and the action is clipped to the actuator
            ctrlrange, so a bad action can never make the state NaN.  The clipped
            action is also what the control cost sees (Gymnasium uses the raw
            one; identical for in-range actions).
        Returns:
          State with the v4 reward and ``done`` = termination only (float 0/1).
        Raises:
          ValueError: at trace time when ``action.shape != (action_size,)``.
        """
        action = self._check_action(action)
        finite = jnp.isfinite(action)
        dtype = state.reward.dtype
        action = jnp.clip(jnp.where(finite, action, 0.0), self.action_low, self.action_high)
        action = action.astype(dtype)
        data0 = state.pipeline_state
        data1 = self.pipeline_step(data0, action)
        reward, terms = self._reward(data0, data1, action)
        done = self._terminated(data1).astype(dtype)
        # keep keys that wrappers added at reset (brax's EvalWrapper adds "reward")
        metrics = {**state.metrics, **{k: jnp.asarray(v, dtype) for k, v in terms.items()}}
        metrics["nonfinite_action"] = 1.0 - jnp.all(finite).astype(dtype)
        return state.replace(pipeline_state=data1, obs=self._obs(data1),
                             reward=jnp.asarray(reward, dtype), done=done, metrics=metrics)

    def _check_action(self, action) -> jax.Array:
        action = jnp.asarray(action)
        expected = (self.action_size,)
        if action.shape != expected:
            raise ValueError(f"{self.name}: action shape {tuple(action.shape)} != expected {expected}")
        return action

    # ----- task hooks ------------------------------------------------------------
    def _sample_state(self, rng: jax.Array) -> tuple[jax.Array, jax.Array]:
        raise NotImplementedError

    def _obs(self, data: mjx.Data) -> jax.Array:
        raise NotImplementedError

    def _reward(self, data0: mjx.Data, data1: mjx.Data, action: jax.Array):
        raise NotImplementedError

    def _terminated(self, data: mjx.Data) -> jax.Array:
        return jnp.zeros((), bool)


def uniform_noise(rng: jax.Array, base: np.ndarray, scale: float) -> jax.Array:
    """``base + U(-scale, scale)`` elementwise (v4 qpos noise)."""
    return jnp.asarray(base) + jax.random.uniform(rng, base.shape, minval=-scale, maxval=scale)


def normal_noise(rng: jax.Array, base: np.ndarray, scale: float) -> jax.Array:
    """``base + scale * N(0, 1)`` elementwise (v4 qvel noise of some tasks)."""
    return jnp.asarray(base) + scale * jax.random.normal(rng, base.shape)


NoiseFn = Callable[[jax.Array, np.ndarray, float], jax.Array]
