import os
import jax
jax.config.update("jax_enable_x64", True)
from fpmd_mjx.jax_setup import enable_compilation_cache
enable_compilation_cache()
import numpy as np, mujoco
from mujoco import mjx
import gymnasium
A = os.path.join(os.path.dirname(gymnasium.__file__), "envs/mujoco/assets/")
D = mujoco.mjtDisableBit
def run(tag, xml, edit, norm=False):
    m = mujoco.MjModel.from_xml_path(A + xml); edit(m)
    mx = mjx.put_model(m)
    step = jax.jit(mjx.step)
    rng = np.random.default_rng(0)
    d = mujoco.MjData(m)
    d.qpos[:] = m.qpos0 + rng.uniform(-.1, .1, m.nq); d.qvel[:] = rng.normal(size=m.nv) * .1
    if norm and xml in ("ant.xml", "humanoid.xml"): d.qpos[3:7] /= np.linalg.norm(d.qpos[3:7])
    mujoco.mj_forward(m, d)
    dx = mjx.put_data(m, d)
    out = []
    for t in range(5):
        a = rng.uniform(-1, 1, m.nu)
        d.ctrl[:] = a; mujoco.mj_step(m, d)
        dx = step(mx, dx.replace(ctrl=a))
        out.append("%.1e" % np.abs(np.asarray(dx.qpos) - d.qpos).max())
    print(tag, xml, "norm" if norm else "", out, flush=True)
def nocon(m): m.opt.disableflags |= D.mjDSBL_LIMIT | D.mjDSBL_CONTACT
run("noconstr", "ant.xml", nocon)
run("noconstr", "ant.xml", nocon, norm=True)
def nodamp(m): nocon(m); m.dof_damping[:] = 0
run("noconstr+nodamp", "ant.xml", nodamp)
def noarm(m): nocon(m); m.dof_armature[:] = 0
run("noconstr+noarm", "ant.xml", noarm)
run("default", "hopper.xml", lambda m: None)
