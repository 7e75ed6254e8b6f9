"""Probe: where does Ant MJX diverge from C MuJoCo (x64)."""
import os
import jax
jax.config.update("jax_enable_x64", True)
from fpmd_mjx.jax_setup import enable_compilation_cache
enable_compilation_cache()
import numpy as np, mujoco
from mujoco import mjx
import gymnasium
P = os.path.join(os.path.dirname(gymnasium.__file__), "envs/mujoco/assets/ant.xml")

def run(tag, edit):
    m = mujoco.MjModel.from_xml_path(P); edit(m)
    mx = mjx.put_model(m)
    step = jax.jit(mjx.step)
    rng = np.random.default_rng(0)
    d = mujoco.MjData(m)
    d.qpos[:] = m.qpos0 + rng.uniform(-.1, .1, m.nq); d.qvel[:] = rng.normal(size=m.nv) * .1
    mujoco.mj_forward(m, d)
    dx = mjx.put_data(m, d)
    errs = []
    for t in range(60):
        a = rng.uniform(-1, 1, m.nu)
        d.ctrl[:] = a; mujoco.mj_step(m, d)
        dx = step(mx, dx.replace(ctrl=a))
        errs.append(np.abs(np.asarray(dx.qpos) - d.qpos).max())
        if t in (0, 4, 9, 14, 19, 29, 59):
            print(tag, t + 1, "qpos err %.2e" % errs[-1], "nefc C", d.nefc, "ncon C", d.ncon, flush=True)
        if t == 10:  # resync to keep going
            pass

run("default", lambda m: None)
def euler(m): m.opt.integrator = mujoco.mjtIntegrator.mjINT_EULER
run("euler", euler)
def nowarm(m): m.opt.disableflags |= mujoco.mjtDisableBit.mjDSBL_WARMSTART
run("nowarm", nowarm)
def nolimit(m): m.opt.disableflags |= mujoco.mjtDisableBit.mjDSBL_LIMIT
run("nolimit", nolimit)
