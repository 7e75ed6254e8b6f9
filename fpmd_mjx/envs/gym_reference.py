"""The real Gymnasium v4 environments (C MuJoCo, float64), built in one place.

Used by ``validation/parity.py`` and the checkpoint replay harness
``validation/gym_eval.py``.  ``make_gym_env(name)`` returns the v4 env with its
v4 ``TimeLimit`` and silences the v4 deprecation warnings.

Pusher-v4: Gymnasium 1.4 raises ImportError for ``Pusher-v4`` under
mujoco >= 3 (its issue #950: a collision bug in mujoco 2 that v4's tiny object
mass, 1.3e-8 kg, is sensitive to).  We instantiate the v4 class itself with the
version check bypassed (:class:`PusherV4`, which only re-does v4's two
constructor lines) so ``step``/``reset_model``/``_get_obs`` and ``pusher.xml``
are exactly v4's.  ``Pusher-v5`` with ``xml_file=pusher.xml`` is *not* a
faithful substitute: v5 computes the reward from positions *after* the
simulation step, v4 from positions *before* it.
"""
from __future__ import annotations

import warnings

import gymnasium
import numpy as np
from gymnasium.envs.mujoco import pusher_v4
from gymnasium.envs.mujoco.mujoco_env import MujocoEnv
from gymnasium.spaces import Box
from gymnasium.wrappers import TimeLimit

from fpmd_mjx.envs.base import SOLVERS
from fpmd_mjx.envs.registry import spec as task_spec


class PusherV4(pusher_v4.PusherEnv):
    """Gymnasium's ``PusherEnv`` (v4) without its ``mujoco < 3`` check."""

    def __init__(self, **kwargs):  # pylint: disable=super-init-not-called
        gymnasium.utils.EzPickle.__init__(self, **kwargs)
        obs_space = Box(low=-np.inf, high=np.inf, shape=(23,), dtype=np.float64)
        MujocoEnv.__init__(self, "pusher.xml", 5, observation_space=obs_space,
                           default_camera_config=pusher_v4.DEFAULT_CAMERA_CONFIG, **kwargs)


def make_gym_env(name: str, match_mjx_options: bool = False, **kwargs) -> gymnasium.Env:
    """Gymnasium v4 env for task ``name`` (any spelling ``envs.make`` accepts).

    Args:
      name: task name, e.g. ``"ant"`` or ``"Ant-v4"``.
      match_mjx_options: apply the MJX port's model option changes (e.g.
        Humanoid's Newton solver instead of PGS) to the C model too, to separate
        option effects from MJX-vs-C differences.  Default False = true v4.
      **kwargs: passed to the env constructor (e.g. ``render_mode``).
    Returns:
      the env wrapped in ``TimeLimit(max_episode_steps)`` of v4.
    """
    spec = task_spec(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if spec.name == "pusher":
            env = TimeLimit(PusherV4(**kwargs), max_episode_steps=spec.episode_length)
        else:
            env = gymnasium.make(spec.gym_id, **kwargs)
    if match_mjx_options:
        opt = env.unwrapped.model.opt
        for key, value in spec.options:
            setattr(opt, key, SOLVERS[value] if key == "solver" else value)
    return env
