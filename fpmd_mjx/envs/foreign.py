"""Environments from outside the project's task table: any object with brax's ``Env``
interface, and brax's own environments by name.

    env = foreign.adapt(my_brax_env)                    # any reset(key) / step(state, action) env
    env = foreign.make("brax:inverted_pendulum")         # brax.envs.get_environment(name)

What the trainer needs of an environment, and where it comes from:

* ``reset(key) -> State`` and ``step(state, action) -> State`` with brax's ``State``
  (``obs (obs_size,)``, ``reward ()``, ``done ()``, ``metrics``, ``info``) for one env;
* ``observation_size`` (an int: dictionary observations are refused in one line) and
  ``action_size``;
* the action range ``action_low``/``action_high`` ``(action_size,)``: the config's
  ``action_low`` / ``action_high`` where given (scalars for every dimension), else the
  env's own attributes of those names, else [-1, 1] (brax's convention);
* the time limit ``episode_length`` (env steps): the config's ``episode_length`` where
  given, else the env's attribute of that name, else 1000 (brax's training default).

These environments have no Gymnasium counterpart (``gym_id`` is None): ``gym_eval``
refuses them in one line, and the per-task blocks of ``configs/<algo>.yaml`` do not apply.
"""
from __future__ import annotations

import functools
from collections.abc import Mapping

import jax
import numpy as np
from brax import envs as brax_envs
from brax.envs.base import State

SOURCES = ("brax", "custom")  # custom: an environment object of your own
DEFAULT_EPISODE_LENGTH = 1000


def is_foreign(name: str) -> bool:
    """Whether ``name`` names an environment outside the task table (``SOURCE:NAME``)."""
    return isinstance(name, str) and ":" in name


def split(name: str) -> tuple[str, str]:
    """``"SOURCE:NAME"`` -> (source, name); ValueError (one line) for an unknown source."""
    source, _, env_name = name.partition(":")
    if source not in SOURCES or not env_name:
        raise ValueError(f"environment {name!r}: expected SOURCE:NAME with SOURCE one of {', '.join(SOURCES)} "
                         f"(or a task of the project's table)")
    return source, env_name


def names(source: str) -> tuple[str, ...]:
    """The environment names ``source`` offers."""
    if source == "brax":
        return tuple(sorted(brax_envs._envs))  # brax's registry has no public listing
    if source == "custom":
        raise ValueError("custom environments have no names to list: they are objects of your own")
    raise ValueError(f"unknown environment source {source!r}; valid: {', '.join(SOURCES)}")


def own_env_message(name: str) -> str:
    return (f"{name} is an environment of your own: pass the object, e.g. make_train(cfg, env=...), "
            f"runner.run(..., env=...), rebuild.load_policy(..., env=...)")


def check_name(name: str) -> str:
    """``name`` itself when it names an environment its source offers (any name for
    ``custom``); ValueError (one line, with the valid names) otherwise."""
    source, env_name = split(name)
    if source == "custom":
        return name
    valid = names(source)
    if env_name not in valid:
        raise ValueError(f"unknown {source} environment {env_name!r}; valid: {', '.join(valid)}")
    return name


def _strong(tree):
    """``tree`` without JAX's weak types (an env's reset may return weakly typed Python
    scalars where its step returns typed arrays; a ``lax.scan`` carry needs one type)."""
    return jax.tree.map(lambda x: jax.lax.convert_element_type(x, jax.numpy.result_type(x)), tree)


class ForeignEnv:
    """A single env from outside the task table, with what the trainer reads of a task.

    ``env``: an object with brax's ``Env`` interface."""

    gym_id = None

    def __init__(self, env, name: str, action_low=None, action_high=None, episode_length: int | None = None):
        self.env, self.name = env, name
        obs_size = env.observation_size
        if isinstance(obs_size, Mapping):
            raise ValueError(f"environment {name!r} has dictionary observations ({', '.join(map(str, obs_size))}); "
                             f"the trainer takes one observation vector")
        self.observation_size, self.action_size = int(obs_size), int(env.action_size)
        low = getattr(env, "action_low", None) if action_low is None else action_low
        high = getattr(env, "action_high", None) if action_high is None else action_high
        self.action_low = np.broadcast_to(np.asarray(-1.0 if low is None else low, np.float32),
                                          (self.action_size,)).copy()
        self.action_high = np.broadcast_to(np.asarray(1.0 if high is None else high, np.float32),
                                           (self.action_size,)).copy()
        if not np.all(self.action_low < self.action_high):
            raise ValueError(f"environment {name!r}: action_low {self.action_low.tolist()} must lie below "
                             f"action_high {self.action_high.tolist()}")
        self.episode_length = int(episode_length or getattr(env, "episode_length", None) or DEFAULT_EPISODE_LENGTH)

    def reset(self, key: jax.Array) -> State:
        return _strong(self.env.reset(key))

    def step(self, state: State, action: jax.Array) -> State:
        return _strong(self.env.step(state, action))


def adapt(env, name: str | None = None, action_low=None, action_high=None,
          episode_length: int | None = None) -> ForeignEnv:
    """``env`` (a brax ``Env`` or an already adapted env) with the action range and time
    limit resolved (see the module docstring)."""
    if isinstance(env, ForeignEnv):
        return env
    return ForeignEnv(env, name or type(env).__name__, action_low, action_high, episode_length)


@functools.lru_cache(maxsize=16)
def make(name: str, action_low=None, action_high=None, episode_length: int | None = None) -> ForeignEnv:
    """The environment ``"brax:NAME"`` (one-line ValueError for an unknown name)."""
    source, env_name = split(check_name(name))
    if source == "custom":
        raise ValueError(own_env_message(name))
    return adapt(brax_envs.get_environment(env_name), name, action_low, action_high, episode_length)
