"""Probe: RK4 differences without constraints (Ant) against Hopper (no free joint), x64."""
import mujoco
from common import Pair

D = mujoco.mjtDisableBit


def run(tag, xml, edit, norm=False):
    p = Pair(xml, edit, normalize_quat=norm and xml in ("ant.xml", "humanoid.xml"))
    out = ["%.1e" % p.step(p.random_action()) for _ in range(5)]
    print(tag, xml, "norm" if norm else "", out, flush=True)


def nocon(m): m.opt.disableflags |= D.mjDSBL_LIMIT | D.mjDSBL_CONTACT
run("noconstr", "ant.xml", nocon)
run("noconstr", "ant.xml", nocon, norm=True)
def nodamp(m): nocon(m); m.dof_damping[:] = 0
run("noconstr+nodamp", "ant.xml", nodamp)
def noarm(m): nocon(m); m.dof_armature[:] = 0
run("noconstr+noarm", "ant.xml", noarm)
run("default", "hopper.xml", lambda m: None)
