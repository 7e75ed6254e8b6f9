"""Environments from outside the project's task table: any object with brax's ``Env``
interface, brax's own environments by name and MuJoCo Playground's MJX environments.

    env = foreign.adapt(my_brax_env)                    # any reset(key) / step(state, action) env
    env = foreign.make("brax:inverted_pendulum")         # brax.envs.get_environment(name)
    env = foreign.make("playground:CartpoleBalance")     # mujoco_playground.registry.load(name)

What the trainer needs of an environment, and where it comes from:

* ``reset(key) -> State`` and ``step(state, action) -> State`` with brax's ``State``
  (``obs (obs_size,)``, ``reward ()``, ``done ()``, ``metrics``, ``info``) for one env;
  Playground's own ``State`` (``data`` instead of ``pipeline_state``) is converted;
* ``observation_size`` (an int: dictionary observations are refused in one line) and
  ``action_size``;
* the action range ``action_low``/``action_high`` ``(action_size,)``: the env's own
  attributes of those names where it has them, else the config's ``action_low`` /
  ``action_high`` (scalars for every dimension), else [-1, 1] (brax's and Playground's
  convention);
* the time limit ``episode_length`` (env steps): the config's ``episode_length`` where
  given, else the env's attribute of that name, else Playground's default config, else
  1000 (brax's training default). Playground's ``action_repeat`` is not applied: one env
  step is one call of the env's ``step``.

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


def _playground():
    """MuJoCo Playground's module (the ``playground`` extra), or a one-line ValueError."""
    try:
        return importlib.import_module("mujoco_playground")
    except ImportError:
        raise ValueError(f"playground environments need MuJoCo Playground: {PLAYGROUND_EXTRA}") from None


def names(source: str) -> tuple[str, ...]:
    """The environment names ``source`` offers (Playground's only when it is installed)."""
    if source == "brax":
        return tuple(sorted(brax_envs._envs))  # brax's registry has no public listing
    if source == "playground":
        return tuple(_playground().registry.ALL_ENVS)
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


class ForeignEnv:
    """A single env from outside the task table, with what the trainer reads of a task.

    ``env``: an object with brax's ``Env`` interface (``playground=True``: a MuJoCo
    Playground ``MjxEnv``, whose states are converted to brax's ``State``)."""

    gym_id = None

    def __init__(self, env, name: str, action_low=None, action_high=None, episode_length: int | None = None,
                 playground: bool = False):
        self.env, self.name, self.playground = env, name, playground
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
        s = self.env.reset(key)
        return self._to_brax(s) if self.playground else s

    def step(self, state: State, action: jax.Array) -> State:
        if not self.playground:
            return self.env.step(state, action)
        return self._to_brax(self.env.step(state.pipeline_state, action))

    @staticmethod
    def _to_brax(s) -> State:
        """Playground's ``State`` as brax's: the whole Playground state rides in ``pipeline_state``."""
        return State(pipeline_state=s, obs=s.obs, reward=s.reward, done=s.done, metrics=dict(s.metrics), info={})


def adapt(env, name: str | None = None, action_low=None, action_high=None,
          episode_length: int | None = None) -> ForeignEnv:
    """``env`` (a brax ``Env``, a Playground ``MjxEnv`` or an already adapted env) with
    the action range and time limit resolved (see the module docstring)."""
    if isinstance(env, ForeignEnv):
        return env
    mp = sys.modules.get("mujoco_playground")  # a Playground env means Playground is imported
    playground = mp is not None and isinstance(env, mp.MjxEnv)
    return ForeignEnv(env, name or type(env).__name__, action_low, action_high, episode_length, playground)


@functools.lru_cache(maxsize=16)
def make(name: str, action_low=None, action_high=None, episode_length: int | None = None) -> ForeignEnv:
    """The environment ``"brax:NAME"`` or ``"playground:NAME"`` (one-line ValueError for an
    unknown name, a missing extra, or robot models that would have to be downloaded)."""
    source, env_name = split(check_name(name))
    if source == "custom":
        raise ValueError(own_env_message(name))
    if source == "brax":
        return adapt(brax_envs.get_environment(env_name), name, action_low, action_high, episode_length)
    registry = _playground().registry
    try:
        env = registry.load(env_name)
    except Exception as e:  # noqa: BLE001 - a download of robot models fails in many ways offline
        raise ValueError(f"playground environment {env_name!r} could not be built ({type(e).__name__}: "
                         f"{str(e).splitlines()[0][:120] if str(e) else ''}); its robot models may have to be "
                         f"fetched from the internet at first use (the DM Control suite ships its own)") from None
    if episode_length is None:
        episode_length = int(registry.get_default_config(env_name).get("episode_length", DEFAULT_EPISODE_LENGTH))
    return adapt(env, name, action_low, action_high, episode_length)
