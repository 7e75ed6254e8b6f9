"""The MuJoCo Warp backend (``physics: warp``) behind the same task API: it meets the same
parity tolerances against Gymnasium v4 as the JAX backend (all tasks but Ant, whose
contacts Warp computes differently from C, and Humanoid, whose contact-force observations
need ``mjx.rne_postconstraint``, a JAX-backend function), and a tiny training run works.

Needs the ``warp`` extra (``pip install -e ".[warp]"``); Warp compiles its kernels once
per machine (minutes on a CPU, then cached). Marked ``warp``: CI installs the extra and
runs these after the default run."""
import math
import os

import pytest

from fpmd_mjx import envs
from tests import task_programs
from tests.task_programs import parity
from tests.tiny import tiny_config

try:
    import mujoco.mjx.warp as _mjx_warp

    WARP = bool(getattr(_mjx_warp, "WARP_INSTALLED", False))
except ImportError:  # pragma: no cover - mujoco-mjx always ships the module
    WARP = False

pytestmark = [pytest.mark.warp, pytest.mark.skipif(not WARP, reason="needs the warp extra: pip install -e '.[warp]'")]

WARP_TASKS = [n for n in envs.names() if n not in ("ant", "humanoid")]


@pytest.mark.parametrize("name", WARP_TASKS)
def test_warp_meets_the_parity_tolerances_of_the_jax_backend(name):
    results = parity.compare_task(name, n_starts=task_programs.STARTS, horizon=task_programs.HORIZON, seed=3,
                                  match_mjx_options=True, physics="warp")
    tol = parity.TOLERANCES[name]["obs"]
    for r in results:
        assert not parity.check(name, r), (name, r["style"], parity.check(name, r))
        assert r["rollout_obs_err"]["1"] <= tol, (name, r["style"], r["rollout_obs_err"])
        assert r["steps_to_div_median"] >= task_programs.HORIZON / 2, (name, r["style"], r)


def test_warp_refuses_humanoid_in_one_line():
    with pytest.raises(ValueError, match="humanoid observes contact forces") as e:
        envs.make("humanoid", physics="warp")
    assert "\n" not in str(e.value)


def test_a_tiny_run_trains_evaluates_and_checkpoints_on_warp(tmp_path):
    from fpmd_mjx.checkpoint import find_checkpoints
    from fpmd_mjx.rebuild import load_policy
    from fpmd_mjx.runner import run

    cfg = tiny_config(physics="warp", total_steps=96, eval_every=96, checkpoint_every=96)
    res = run(cfg, str(tmp_path), progress=False)
    assert res.env_steps == 96 and all(math.isfinite(r) for r in res.eval_returns)
    step_dir = find_checkpoints(str(tmp_path))[0]
    loaded_cfg = load_policy(step_dir)[0]
    assert loaded_cfg.physics == "warp"
    assert os.path.isfile(os.path.join(str(tmp_path), "metrics.csv"))
