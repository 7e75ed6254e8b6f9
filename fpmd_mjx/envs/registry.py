"""The one task table: canonical name -> (class, TaskSpec).

``make(name)`` accepts the canonical name (``"half_cheetah"``), the Gymnasium
id (``"HalfCheetah-v4"``) and case/separator variants (``"halfcheetah"``,
``"Half-Cheetah"``).
"""
from __future__ import annotations

import dataclasses
import functools

from fpmd_mjx.envs import locomotion, manipulation, pendulum
from fpmd_mjx.envs.base import MjxTask, TaskSpec, check_physics, check_profile, profile_spec

_TABLE: dict = {**locomotion.SPECS, **manipulation.SPECS, **pendulum.SPECS}
_ORDER = ("ant", "half_cheetah", "hopper", "walker2d", "humanoid", "swimmer",
          "reacher", "pusher", "inverted_pendulum", "inverted_double_pendulum")
assert set(_ORDER) == set(_TABLE)


def names() -> tuple[str, ...]:
    """Canonical task names, in the project's fixed order."""
    return _ORDER


def _key(name: str) -> str:
    key = name.strip().lower()
    if key.endswith("-v4"):
        key = key[:-3]
    return key.replace("-", "").replace("_", "").replace(" ", "")


_ALIASES = {_key(n): n for n in _ORDER} | {_key(_TABLE[n][1].gym_id): n for n in _ORDER}


def canonical_name(name: str) -> str:
    """Canonical name of ``name``; ValueError (one line) listing valid tasks."""
    try:
        return _ALIASES[_key(name)]
    except KeyError:
        raise ValueError(f"unknown task {name!r}; valid tasks: {', '.join(_ORDER)}") from None


def spec(name: str) -> TaskSpec:
    """The static TaskSpec of ``name`` (any accepted spelling)."""
    return _TABLE[canonical_name(name)][1]


@functools.lru_cache(maxsize=None)
def _make_cached(canonical: str, solver_caps: bool, profile: str, physics: str, warp_envs: int) -> MjxTask:
    cls, task_spec = _TABLE[canonical]
    task_spec = dataclasses.replace(task_spec, physics=physics, warp_envs=warp_envs)
    return cls(profile_spec(task_spec, profile) if solver_caps else task_spec, solver_caps)


def make(name: str, solver_caps: bool = True, profile: str = "faithful", physics: str = "jax",
         warp_envs: int = 64) -> MjxTask:
    """A single-env MJX task (brax PipelineEnv).  Instances are cached per name
    (they hold only static model data), so repeated calls are cheap.
    ``solver_caps=False``: the v4 XML's solver iteration limits instead of the
    task's caps (same results, slower; see ``TaskSpec.solver_caps``).
    ``profile``: an opt-in faster physics profile (``base.PROFILES``: fewer Newton
    iterations, at a measured parity cost); ignored with ``solver_caps=False``.
    ``physics``: the MJX backend, ``"jax"`` or ``"warp"`` (``base.PHYSICS``); with warp,
    ``warp_envs`` is the most envs stepped together (``TaskSpec.warp_envs``)."""
    canonical = canonical_name(name)
    task_spec = _TABLE[canonical][1]
    check_physics(physics, task_spec)
    return _make_cached(canonical, bool(solver_caps), check_profile(profile), physics,
                        int(warp_envs) if physics == "warp" else task_spec.warp_envs)
