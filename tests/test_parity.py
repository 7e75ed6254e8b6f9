"""MJX vs Gymnasium v4 (C MuJoCo) parity, every task, every action style.

Teacher-forced one step from Gymnasium-driven states (uniform actions, actions
at the bounds, a smooth random walk) must meet ``fpmd_mjx.parity.
TOLERANCES``; short rollouts must not diverge on the first steps.  The C model
gets the port's option changes (Humanoid: Newton), so the comparison isolates
MJX from deliberate model changes.  One compiled program per task, shared with
``tests/test_envs.py``; ``python validation/parity.py --env all`` runs the same
checks with many more states.
"""
import pytest

from fpmd_mjx import envs
from tests import task_programs
from tests.task_programs import parity


@pytest.mark.parametrize("name", envs.names())
def test_teacher_forced_parity_meets_the_tolerance_under_every_action_style(name):
    results, _ = task_programs.parity_results(name)
    assert {r["style"] for r in results} == set(parity.STYLES)
    for r in results:
        assert not parity.check(name, r), (name, r["style"], parity.check(name, r))
        assert r["n"] == task_programs.STARTS


@pytest.mark.parametrize("name", envs.names())
def test_short_rollouts_track_gymnasium(name):
    """Median max-abs observation error after 1 and HORIZON steps stays below the
    task's one-step tolerance times 10 (float32 rounding grows, it must not jump)."""
    results, _ = task_programs.parity_results(name)
    tol = parity.TOLERANCES[name]["obs"]
    for r in results:
        assert r["rollout_obs_err"]["1"] <= tol, (name, r["style"], r["rollout_obs_err"])
        assert r["steps_to_div_median"] >= task_programs.HORIZON / 2, (name, r["style"], r)


def test_solver_caps_limit_only_the_mjx_model():
    """Every task caps MJX's Newton and line-search iterations below v4's 100 / 50;
    ``solver_caps=False`` keeps the XML's limits, and the C reference never gets caps."""
    from fpmd_mjx.envs.gym_reference import make_gym_env

    for name in envs.names():
        caps = dict(envs.spec(name).solver_caps)
        capped, uncapped = envs.make(name), envs.make(name, solver_caps=False)
        assert capped.sys.opt.iterations == caps["iterations"] < uncapped.sys.opt.iterations
        assert capped.sys.opt.ls_iterations == caps["ls_iterations"] < uncapped.sys.opt.ls_iterations
        c_opt = make_gym_env(name, match_mjx_options=True).unwrapped.model.opt
        assert (c_opt.iterations, c_opt.ls_iterations) == (uncapped.sys.opt.iterations, uncapped.sys.opt.ls_iterations)


def test_solver_caps_change_no_result_bit():
    """Hopper (plane and capsule-capsule contacts, joint limits): the uncapped MJX
    model gives the same parity numbers, error for error, as the capped default."""
    capped, _ = task_programs.parity_results("hopper")
    uncapped = parity.compare_task("hopper", n_starts=task_programs.STARTS, horizon=task_programs.HORIZON,
                                   seed=3, match_mjx_options=True, solver_caps=False)
    for a, b in zip(capped, uncapped):
        assert a["obs_errors"] == b["obs_errors"] and a["rew_errors"] == b["rew_errors"], a["style"]
        assert a["rollout_obs_err"] == b["rollout_obs_err"], a["style"]
