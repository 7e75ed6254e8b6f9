"""Environments from outside the project's task table: any object with brax's ``Env``
interface, brax's own environments by name, and MuJoCo Playground's MJX environments.

    env = foreign.adapt(my_brax_env)                    # any reset(key) / step(state, action) env
    env = foreign.make("brax:inverted_pendulum")         # brax.envs.get_environment(name)
    env = foreign.make("playground:CartpoleBalance")     # mujoco_playground.registry.load(name)

What the trainer needs of an environment, and where it comes from:

* ``reset(key) -> State`` and ``step(state, action) -> State`` with brax's ``State``
  (``obs (obs_size,)``, ``reward ()``, ``done ()``, ``metrics``, ``info``) for one env;
  a Playground ``MjxEnv``'s own ``State`` (its ``data`` where brax has ``pipeline_state``)
  is converted both ways;
* ``observation_size`` (an int: dictionary observations are refused in one line) and
  ``action_size``;
* the action range ``action_low``/``action_high`` ``(action_size,)``: the config's
  ``action_low`` / ``action_high`` where given (scalars for every dimension), else the
  env's own attributes of those names, else [-1, 1] (brax's convention);
* the time limit ``episode_length`` (env steps): the config's ``episode_length`` where
  given, else the env's attribute of that name, else Playground's default config for the
  environment, else 1000 (brax's training default).

Playground environments are built with the config's MJX backend (``physics``: ``jax``, the
default, or ``warp``; Playground itself defaults to Warp) and with their own
``action_repeat`` of 1: the DM Control suite's tasks all have 1, and a task that repeats
actions is refused in one line rather than run at another control rate than its own.

These environments have no Gymnasium counterpart (``gym_id`` is None): ``gym_eval``
refuses them in one line, and the per-task blocks of ``configs/<algo>.yaml`` do not apply.
"""
from __future__ import annotations

import functools
import importlib
import sys
from collections.abc import Mapping

import jax
import numpy as np
from brax import envs as brax_envs
from brax.envs.base import State

from fpmd_mjx.trees import strong

SOURCES = ("brax", "playground", "custom")  # custom: an environment object of your own
DEFAULT_EPISODE_LENGTH = 1000
PLAYGROUND_EXTRA = 'pip install -e ".[playground]"'


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


def playground_module():
    """MuJoCo Playground's package (the ``playground`` extra); one-line ValueError without it."""
    try:
        return importlib.import_module("mujoco_playground")
    except ImportError:
        raise ValueError(f"playground environments need MuJoCo Playground: {PLAYGROUND_EXTRA}") from None


def names(source: str) -> tuple[str, ...]:
    """The environment names ``source`` offers (Playground's only where it is installed)."""
    if source == "brax":
        return tuple(sorted(brax_envs._envs))  # brax's registry has no public listing
    if source == "playground":
        return tuple(playground_module().registry.ALL_ENVS)
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


def playground_state_type(env):
    """Playground's ``State`` class when ``env`` is a Playground ``MjxEnv``, else None (a
    Playground env means Playground is imported already)."""
    mp = sys.modules.get("mujoco_playground")
    return mp.State if mp is not None and isinstance(env, mp.MjxEnv) else None


class ForeignEnv:
    """A single env from outside the task table, with what the trainer reads of a task.

    ``env``: an object with brax's ``Env`` interface, or a MuJoCo Playground ``MjxEnv``."""

    gym_id = None

    def __init__(self, env, name: str, action_low=None, action_high=None, episode_length: int | None = None):
        self.env, self.name = env, name
        self.playground_state = playground_state_type(env)
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
        return strong(self.to_brax(self.env.reset(key)))

    def step(self, state: State, action: jax.Array) -> State:
        return strong(self.to_brax(self.env.step(self.from_brax(state), action)))

    def to_brax(self, state) -> State:
        """The env's state as brax's ``State`` (a Playground state's ``data`` becomes ``pipeline_state``)."""
        if self.playground_state is None:
            return state
        return State(pipeline_state=state.data, obs=state.obs, reward=state.reward, done=state.done,
                     metrics=dict(state.metrics), info=dict(state.info))

    def from_brax(self, state: State):
        """brax's ``State`` as the env's own (the inverse of :meth:`to_brax`)."""
        if self.playground_state is None:
            return state
        return self.playground_state(data=state.pipeline_state, obs=state.obs, reward=state.reward,
                                     done=state.done, metrics=state.metrics, info=state.info)


def adapt(env, name: str | None = None, action_low=None, action_high=None,
          episode_length: int | None = None) -> ForeignEnv:
    """``env`` (a brax ``Env``, a Playground ``MjxEnv`` or an already adapted env) with the
    action range and time limit resolved (see the module docstring)."""
    if isinstance(env, ForeignEnv):
        return env
    return ForeignEnv(env, name or type(env).__name__, action_low, action_high, episode_length)


def load_playground(env_name: str, physics: str = "jax"):
    """Playground's environment ``env_name`` on the MJX backend ``physics``, and its default
    config; one-line ValueError where it repeats actions or cannot be built (robot models
    that would have to be fetched from the internet)."""
    registry = playground_module().registry
    try:
        defaults = registry.get_default_config(env_name)
        overrides = {"impl": physics} if "impl" in defaults else {}
        env = registry.load(env_name, config_overrides=overrides)
    except Exception as e:  # noqa: BLE001 - a download of robot models fails in many ways offline
        first = str(e).splitlines()[0][:160] if str(e) else ""
        raise ValueError(f"playground environment {env_name!r} could not be built ({type(e).__name__}: {first}); "
                         f"its robot models may have to be fetched from the internet at first use "
                         f"(the DM Control suite ships its own)") from None
    repeat = int(defaults.get("action_repeat", 1))
    if repeat != 1:
        raise ValueError(f"playground environment {env_name!r} repeats each action {repeat} times "
                         f"(action_repeat); the trainer steps the env once per action")
    return env, defaults


@functools.lru_cache(maxsize=16)
def make(name: str, action_low=None, action_high=None, episode_length: int | None = None,
         physics: str = "jax") -> ForeignEnv:
    """The environment ``"brax:NAME"`` or ``"playground:NAME"`` (one-line ValueError for an
    unknown name, a missing extra, or robot models that would have to be downloaded)."""
    source, env_name = split(check_name(name))
    if source == "custom":
        raise ValueError(own_env_message(name))
    if source == "brax":
        return adapt(brax_envs.get_environment(env_name), name, action_low, action_high, episode_length)
    env, defaults = load_playground(env_name, physics)
    if episode_length is None:
        episode_length = int(defaults.get("episode_length", DEFAULT_EPISODE_LENGTH))
    return adapt(env, name, action_low, action_high, episode_length)
