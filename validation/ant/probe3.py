import os
import jax
jax.config.update("jax_enable_x64", True)
from fpmd_mjx.jax_setup import enable_compilation_cache
enable_compilation_cache()
import numpy as np, mujoco
from mujoco import mjx
import gymnasium
A = os.path.join(os.path.dirname(gymnasium.__file__), "envs/mujoco/assets/")
m = mujoco.MjModel.from_xml_path(A + "ant.xml"); m.opt.integrator = mujoco.mjtIntegrator.mjINT_EULER
mx = mjx.put_model(m)
step = jax.jit(mjx.step)
rng = np.random.default_rng(0)
d = mujoco.MjData(m)
d.qpos[:] = m.qpos0 + rng.uniform(-.1, .1, m.nq); d.qvel[:] = rng.normal(size=m.nv) * .1
mujoco.mj_forward(m, d)
dx = mjx.put_data(m, d)
for t in range(20):
    a = rng.uniform(-1, 1, m.nu)
    pre_c = (d.nefc, d.ncon, [(mujoco.mj_id2name(m, 5, c.geom1), mujoco.mj_id2name(m, 5, c.geom2), round(c.dist, 4)) for c in d.contact[:d.ncon]], list(d.efc_type[:d.nefc]))
    imp = dx._impl
    dist = np.asarray(imp.contact.dist); act = np.where(dist < 0.01 + 1e-12)[0]
    pre_x = ([(int(imp.contact.geom[i,0]), int(imp.contact.geom[i,1]), round(float(dist[i]),4)) for i in act], np.asarray(imp.efc_type)[np.asarray(imp.efc_D) > 0].tolist() if False else int((np.asarray(imp.efc_D)>0).sum()))
    d.ctrl[:] = a; mujoco.mj_step(m, d)
    dx = step(mx, dx.replace(ctrl=a))
    e = np.abs(np.asarray(dx.qpos) - d.qpos).max()
    print(t+1, "%.1e" % e, "C:", pre_c, "MJX:", pre_x, flush=True)
    if e > 1e-6: break
