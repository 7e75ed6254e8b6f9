"""Corrections to MJX where it computes something other than C MuJoCo.

Trained policies are judged in Gymnasium (C MuJoCo), so the MJX ports must step
like C in the states a policy visits.  Each correction here names the upstream
function, the difference, the test that checks it against C MuJoCo, and when it
can be dropped.  They are installed by :func:`install`, which every task
constructor (:class:`fpmd_mjx.envs.base.MjxTask`) calls through
:func:`ensure_installed`; importing the package changes nothing, and nothing in
the installed ``mujoco`` package is edited. :func:`installed` tells whether they
are active, :func:`uninstall` undoes them for the whole process.

**plane-capsule contact frame** (mujoco-mjx ``_src/collision_primitive.py::
plane_capsule``, up to at least 3.17.0).  C's ``mjc_PlaneCapsule`` puts the
capsule axis in the contact frame's second row and ``mju_makeFrame`` then
orthogonalises it against the plane normal, so the first tangent is the axis
projected on the plane whenever that projection is not degenerate.  MJX uses
that projection only when its norm is at least 0.5 and otherwise a fixed axis,
so a capsule standing within 30 degrees of the plane normal (Ant's lower legs
on the floor, Hopper's/Walker2d's feet when vertical) gets a different tangent
frame.  Frictional contacts with a pyramidal cone (every v4 task) turn with the
frame, so the friction forces and qacc differ (up to 147 in one Ant forward).

**sphere-capsule and capsule-capsule closest points** (same file,
``sphere_capsule`` and ``capsule_capsule`` via ``math.closest_segment_point``
and ``math.closest_segment_to_segment_points``).  MJX adds 1e-6 to the
denominators of the segment projections; C (``mjc_SphereCapsule``,
``mjc_CapsuleCapsule``) divides exactly.  For Humanoid's short limb capsules
that moves the contact normal by up to 4e-5 (float64), enough to change qacc by
7e-2 in one forward.  The corrected versions solve C's 2x2 system with C's
clamping order; for exactly parallel axes (C then may return two contacts) they
keep the single contact at C's first candidate, x1 = 1.

**RK4 with free and ball joints** (``_src/forward.py::rungekutta4``).  C
MuJoCo's ``mj_RungeKutta`` (mujoco 4.0) integrates rotations as a
Runge-Kutta-Munthe-Kaas scheme: the rotational part of each stage's velocity
enters the next stage and the final update through the inverse differential of
the exponential map, K = v + 1/2 theta x v + c(|theta|) theta x (theta x v),
theta = the stage's rotation increment (body frame), c(t) = (1 - (t/2)
cot(t/2)) / t^2.  MJX adds the raw stage velocities.  The two agree exactly for
hinge/slide models (Hopper, Walker2d, ...) and differ by ~1e-5 in qpos per
physics step for Ant's free joint, more once contacts amplify it.
:func:`step` runs ``mjx.forward`` and this RK4 for RK4 models (``mjx.step``
otherwise); it matches ``mj_step`` to 1e-15 in float64 (tests).

Each correction is checked by ``tests/test_mjx_corrections.py`` (contact frames,
distances and qacc against ``mj_forward``); drop one when that test passes with
MJX's own collider (``uninstall``).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from mujoco import mjx
from mujoco.mjx._src import collision_driver, scan
from mujoco.mjx._src import forward as mjx_forward
from mujoco.mjx._src import math as mjx_math
from mujoco.mjx._src.collision_primitive import _plane_sphere, _sphere_sphere, collider
from mujoco.mjx._src.collision_types import GeomInfo
from mujoco.mjx._src.types import GeomType, Impl, IntegratorType, JointType

# mju_normalize3 treats a vector shorter than mjMINVAL as degenerate and returns
# (1, 0, 0); only then does C fall back to a fixed tangent.
_MJMINVAL = 1e-15
_C_FALLBACK = (1.0, 0.0, 0.0)


@collider(ncon=2)
def plane_capsule(plane: GeomInfo, cap: GeomInfo):
    """Two plane-capsule contacts (the capsule's end spheres) with C's frame.

    Returns ``dist (2,)``, ``pos (2, 3)``, ``frame (2, 3, 3)`` as MJX colliders do.
    """
    n, axis = plane.mat[:, 2], cap.mat[:, 2]
    # mju_makeFrame(y = axis): tangent = axis minus its normal part, normalised
    b, b_norm = mjx_math.normalize_with_norm(axis - n * jnp.dot(n, axis))
    degenerate = b_norm < _MJMINVAL
    b = jnp.where(degenerate, jnp.asarray(_C_FALLBACK, b.dtype), b)
    frame = jnp.array([[n, b, jnp.cross(n, b)]])
    segment = axis * cap.size[1]
    contacts = []
    for offset in (segment, -segment):
        dist, pos = _plane_sphere(n, plane.pos, cap.pos + offset, cap.size[0])
        contacts.append((dist[None], pos[None], frame))
    return jax.tree_util.tree_map(lambda *x: jnp.concatenate(x), *contacts)


@collider(ncon=1)
def sphere_capsule(sphere: GeomInfo, cap: GeomInfo):
    """One sphere-capsule contact: the sphere against the capsule segment's
    nearest point, projected exactly (``mjc_SphereCapsule``)."""
    axis = cap.mat[:, 2] * cap.size[1]  # half segment
    x = jnp.clip(jnp.dot(axis, sphere.pos - cap.pos) / jnp.dot(axis, axis), -1.0, 1.0)
    dist, pos, n = _sphere_sphere(sphere.pos, sphere.size[0], cap.pos + x * axis, cap.size[0])
    return dist, pos, mjx_math.make_frame(n)


def _segment_params(axis1, axis2, dif):
    """C's nearest-point parameters ``x1, x2`` in [-1, 1] of the segments
    ``pos_i + x_i axis_i`` (``dif = pos1 - pos2``), clamped in C's order."""
    ma, mb, mc = jnp.dot(axis1, axis1), -jnp.dot(axis1, axis2), jnp.dot(axis2, axis2)
    u, v = -jnp.dot(axis1, dif), jnp.dot(axis2, dif)
    det = ma * mc - mb * mb
    parallel = jnp.abs(det) < _MJMINVAL
    safe_det = jnp.where(parallel, 1.0, det)
    x1 = jnp.where(parallel, 1.0, (mc * u - mb * v) / safe_det)
    x2 = (ma * v - mb * u) / safe_det
    # x1 out of range: clamp it and re-project x2 (always so for parallel axes)
    x2 = jnp.where(x1 > 1, (v - mb) / mc, jnp.where(x1 < -1, (v + mb) / mc, x2))
    x1 = jnp.clip(x1, -1.0, 1.0)
    x2 = jnp.where(parallel, jnp.clip(x2, -1.0, 1.0), x2)
    # x2 out of range: clamp it and re-project x1
    x1 = jnp.where(x2 > 1, jnp.clip((u - mb) / ma, -1.0, 1.0),
                   jnp.where(x2 < -1, jnp.clip((u + mb) / ma, -1.0, 1.0), x1))
    return x1, jnp.clip(x2, -1.0, 1.0)


@collider(ncon=1)
def capsule_capsule(cap1: GeomInfo, cap2: GeomInfo):
    """One capsule-capsule contact between the segments' nearest points
    (``mjc_CapsuleCapsule``, general configuration)."""
    axis1 = cap1.mat[:, 2] * cap1.size[1]
    axis2 = cap2.mat[:, 2] * cap2.size[1]
    x1, x2 = _segment_params(axis1, axis2, cap1.pos - cap2.pos)
    dist, pos, n = _sphere_sphere(cap1.pos + x1 * axis1, cap1.size[0],
                                  cap2.pos + x2 * axis2, cap2.size[0])
    return dist, pos, mjx_math.make_frame(n)


CORRECTIONS = {
    (GeomType.PLANE, GeomType.CAPSULE): plane_capsule,
    (GeomType.SPHERE, GeomType.CAPSULE): sphere_capsule,
    (GeomType.CAPSULE, GeomType.CAPSULE): capsule_capsule,
}
UPSTREAM = {k: collision_driver._COLLISION_FUNC[k] for k in CORRECTIONS}


_STATE = {"rk4": False, "opted_out": False}  # "rk4" is read by ``step`` at trace time


def install() -> None:
    """Put the corrected colliders into MJX's collision dispatch and make
    :func:`step` use C's RK4 (idempotent).

    Process-wide: MJX looks colliders up in ``collision_driver._COLLISION_FUNC`` at
    trace time, so every MJX model traced afterwards in this process collides with
    the corrected functions, the project's tasks and any other. Every task
    constructor calls :func:`ensure_installed`; call this yourself to have the
    corrections without building a task, or after :func:`uninstall` to take them back.
    """
    collision_driver._COLLISION_FUNC.update(CORRECTIONS)
    _STATE.update(rk4=True, opted_out=False)


def uninstall() -> None:
    """MJX exactly as installed: its own colliders and ``mjx.step`` (to measure
    what the corrections change, e.g. ``validation/parity.py --upstream``), and no
    task constructor installs them again until :func:`install` is called.
    Functions traced before this call keep what they traced."""
    collision_driver._COLLISION_FUNC.update(UPSTREAM)
    _STATE.update(rk4=False, opted_out=True)


def ensure_installed() -> None:
    """:func:`install`, unless this process opted out with :func:`uninstall`
    (what every task constructor calls before it traces anything)."""
    if not _STATE["opted_out"] and not installed():
        install()


def installed() -> bool:
    """True while every correction is active."""
    return _STATE["rk4"] and all(collision_driver._COLLISION_FUNC.get(k) is f
                                 for k, f in CORRECTIONS.items())


# ----- RK4 (mj_RungeKutta) ------------------------------------------------------
_RK4_A = (0.5, 0.5, 1.0)  # the tableau's nonzero entries A(i, i-1)
_RK4_B = (1.0 / 6.0, 1.0 / 3.0, 1.0 / 3.0, 1.0 / 6.0)


def rotation_dofs(m) -> np.ndarray:
    """``(n, 3)`` int array: the dof indices of each free joint's angular
    velocity and each ball joint's velocity (static, from the model)."""
    rows = []
    for jtype, adr in zip(np.asarray(m.jnt_type), np.asarray(m.jnt_dofadr)):
        if jtype == JointType.FREE:
            rows.append(np.arange(adr + 3, adr + 6))
        elif jtype == JointType.BALL:
            rows.append(np.arange(adr, adr + 3))
    return np.array(rows, dtype=np.int32).reshape(-1, 3)


def dexpinv(theta: jax.Array, vel: jax.Array) -> jax.Array:
    """``(n, 3)`` body-frame dexp^-1: vel + theta x vel / 2 + c theta x (theta x vel)."""
    t2 = jnp.sum(theta * theta, axis=-1, keepdims=True)
    t = jnp.sqrt(t2)
    small = t < (0.3 if theta.dtype == jnp.float32 else 1e-3)
    safe = jnp.where(small, 1.0, t)
    exact = (1.0 - (safe / 2) / jnp.tan(safe / 2)) / (safe * safe)
    series = 1.0 / 12.0 + t2 / 720.0 + t2 * t2 / 30240.0
    c = jnp.where(small, series, exact)
    cross = jnp.cross(theta, vel)
    return vel + 0.5 * cross + c * jnp.cross(theta, cross)


def _integrate(m, qpos: jax.Array, increment: jax.Array) -> jax.Array:
    """qpos "+" increment (nv,) on the joints' manifolds (mj_integratePos, dt 1)."""
    fn = lambda *args: mjx_forward._integrate_pos(*args, dt=1.0)  # noqa: E731
    return scan.flat(m, fn, "jqv", "q", m.jnt_type, qpos, increment)


def rungekutta4(m, d):
    """C MuJoCo's RK4 step after ``forward``: ``d`` holds qacc at the start.

    Stages run as one ``lax.scan`` (one copy of ``forward`` in the program).
    """
    rot = rotation_dofs(m)
    h = m.opt.timestep
    d0 = d

    def to_k(theta, vel):  # the stage velocity as the RKMK increment rate
        if not len(rot):
            return vel
        return vel.at[rot].set(dexpinv(theta[rot], vel[rot]))

    def stage(carry, abt):
        k_sum, acc_sum, act_dot_sum, k_prev, d = carry
        a, b, t = abt
        theta = h * a * k_prev
        d = d.replace(qpos=_integrate(m, d0.qpos, theta), qvel=d0.qvel + h * a * d.qacc,
                      act=d0.act + h * a * d.act_dot, time=t)
        d = mjx.forward(m, d)
        k = to_k(theta, d.qvel)
        return (k_sum + b * k, acc_sum + b * d.qacc, act_dot_sum + b * d.act_dot, k, d), None

    b0 = _RK4_B[0]
    times = d0.time + h * jnp.asarray(_RK4_A)
    abt = (jnp.asarray(_RK4_A), jnp.asarray(_RK4_B[1:]), times)
    carry = (b0 * d0.qvel, b0 * d0.qacc, b0 * d0.act_dot, d0.qvel, d0)
    (k_sum, acc_sum, act_dot_sum, _, d1), _ = jax.lax.scan(stage, carry, abt)
    d = d1.replace(qpos=d0.qpos, qvel=d0.qvel, act=d0.act, time=d0.time)
    return mjx_forward._advance(m, d, act_dot_sum, acc_sum, k_sum)


def step(m, d):
    """One physics step as C's ``mj_step``: ``mjx.step`` with C's RK4 (JAX backend;
    other backends step as MJX does)."""
    jax_backend = getattr(m, "impl", Impl.JAX) == Impl.JAX
    if m.opt.integrator != IntegratorType.RK4 or not _STATE["rk4"] or not jax_backend:
        return mjx.step(m, d)
    return rungekutta4(m, mjx.forward(m, d))
