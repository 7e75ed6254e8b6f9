"""MJX vs Gymnasium v4 (C MuJoCo) parity at the step-1 tolerances of
``validation/parity.py::TOLERANCES``: few start states, short horizon.

One compile per task (vmapped scan from given qpos/qvel).  The cheap tasks run
by default; the others cost 30-90 s of compilation each on a 2-core CPU and are
marked slow (``pytest -m slow``); ``python validation/parity.py --env all``
covers every task with more states.
"""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "validation"))
import parity  # noqa: E402

FAST = ("half_cheetah", "swimmer", "reacher", "inverted_pendulum")
PARAMS = [pytest.param(n, marks=() if n in FAST else pytest.mark.slow)
          for n in parity.TOLERANCES]


@pytest.mark.parametrize("name", PARAMS)
def test_one_step_and_short_rollout_parity(name):
    result = parity.compare_task(name, n_states=4, horizon=10, threshold=1e-2, seed=3)
    assert not parity.check(result), (name, parity.check(result), result)
    assert result["rollout_obs_err"]["1"] <= result["tolerance"]["obs"]
