"""Probe: per-step constraint listing (C vs MJX) for Ant with the Euler integrator, x64,
up to the first step whose qpos error exceeds 1e-6."""
import mujoco
import numpy as np
from common import Pair

p = Pair("ant.xml", lambda m: setattr(m.opt, "integrator", mujoco.mjtIntegrator.mjINT_EULER))
m, GEOM = p.m, mujoco.mjtObj.mjOBJ_GEOM
for t in range(20):
    a = p.random_action()
    d, imp = p.d, p.dx._impl
    pre_c = (d.nefc, d.ncon, [(mujoco.mj_id2name(m, GEOM, c.geom1), mujoco.mj_id2name(m, GEOM, c.geom2),
                               round(c.dist, 4)) for c in d.contact[:d.ncon]], list(d.efc_type[:d.nefc]))
    dist = np.asarray(imp.contact.dist)
    near = np.where(dist < 0.01 + 1e-12)[0]
    pre_x = ([(int(imp.contact.geom[i, 0]), int(imp.contact.geom[i, 1]), round(float(dist[i]), 4)) for i in near],
             int((np.asarray(imp.efc_D) > 0).sum()))
    e = p.step(a)
    print(t + 1, "%.1e" % e, "C:", pre_c, "MJX:", pre_x, flush=True)
    if e > 1e-6:
        break
