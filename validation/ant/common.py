"""Shared setup of the Ant probes: one C MuJoCo and one MJX copy of a v4 model (jax x64),
started from the same random state, stepped with the same actions."""
import os

from fpmd_mjx.jax_setup import enable_compilation_cache  # before jax: quiets XLA's cache log

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
enable_compilation_cache()
import gymnasium  # noqa: E402
import mujoco  # noqa: E402
import numpy as np  # noqa: E402
from mujoco import mjx  # noqa: E402

ASSETS = os.path.join(os.path.dirname(gymnasium.__file__), "envs", "mujoco", "assets")


class Pair:
    """C model/data and MJX model/data of ``xml`` after ``edit(m)``, same start state
    (qpos0 + U(-0.1, 0.1), qvel 0.1 N(0, 1), seed 0; ``normalize_quat`` renormalises a
    free joint's quaternion)."""

    def __init__(self, xml="ant.xml", edit=lambda m: None, normalize_quat=False):
        self.m = mujoco.MjModel.from_xml_path(os.path.join(ASSETS, xml))
        edit(self.m)
        self.mx = mjx.put_model(self.m)
        self._step = jax.jit(mjx.step)
        self.rng = np.random.default_rng(0)
        self.d = mujoco.MjData(self.m)
        self.d.qpos[:] = self.m.qpos0 + self.rng.uniform(-.1, .1, self.m.nq)
        self.d.qvel[:] = self.rng.normal(size=self.m.nv) * .1
        if normalize_quat:
            self.d.qpos[3:7] /= np.linalg.norm(self.d.qpos[3:7])
        mujoco.mj_forward(self.m, self.d)
        self.dx = mjx.put_data(self.m, self.d)

    def random_action(self):
        return self.rng.uniform(-1, 1, self.m.nu)

    def step(self, a) -> float:
        """Step both with action ``a``; return the max-abs qpos difference."""
        self.d.ctrl[:] = a
        mujoco.mj_step(self.m, self.d)
        self.dx = self._step(self.mx, self.dx.replace(ctrl=a))
        return float(np.abs(np.asarray(self.dx.qpos) - self.d.qpos).max())
