"""Probe: where does Ant MJX diverge from C MuJoCo (x64), per model option."""
import mujoco
from common import Pair


def run(tag, edit):
    p = Pair("ant.xml", edit)
    for t in range(60):
        err = p.step(p.random_action())
        if t in (0, 4, 9, 14, 19, 29, 59):
            print(tag, t + 1, "qpos err %.2e" % err, "nefc C", p.d.nefc, "ncon C", p.d.ncon, flush=True)


run("default", lambda m: None)
def euler(m): m.opt.integrator = mujoco.mjtIntegrator.mjINT_EULER
run("euler", euler)
def nowarm(m): m.opt.disableflags |= mujoco.mjtDisableBit.mjDSBL_WARMSTART
run("nowarm", nowarm)
def nolimit(m): m.opt.disableflags |= mujoco.mjtDisableBit.mjDSBL_LIMIT
run("nolimit", nolimit)
