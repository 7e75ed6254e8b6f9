"""MuJoCo Playground's environments through the trainer (the ``playground`` extra; CI installs
it and runs these with ``-m playground``): a Playground env steps through the adapter exactly as
through its own ``step``, a sweep trains seeds of a Playground task on the run axis and its
checkpoints rebuild by name, the CLI lists Playground's environments, and an environment that
cannot be built is a one-line error."""
import csv
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from fpmd_mjx.checkpoint import find_checkpoints
from fpmd_mjx.config import CONFIG_DIR, load_config, load_overlay
from fpmd_mjx.envs import foreign
from fpmd_mjx.rebuild import load_policy
from tests.tiny import TINY

mujoco_playground = pytest.importorskip("mujoco_playground")
pytestmark = pytest.mark.playground

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SWEEP = os.path.join(ROOT, "scripts", "sweep.py")
TRAIN = os.path.join(ROOT, "scripts", "train.py")
TASK = "playground:CartpoleBalance"


def test_a_playground_env_steps_through_the_adapter_exactly_as_through_its_own_step():
    env = foreign.make(TASK)
    own = env.env
    assert (env.observation_size, env.action_size, env.episode_length) == (5, 1, 1000)
    assert env.action_low.tolist() == [-1.0] and env.action_high.tolist() == [1.0]
    ours, theirs = jax.jit(env.reset)(jax.random.PRNGKey(3)), jax.jit(own.reset)(jax.random.PRNGKey(3))
    step, own_step = jax.jit(env.step), jax.jit(own.step)
    actions = jax.random.uniform(jax.random.PRNGKey(4), (5, 1), minval=-1.0, maxval=1.0)
    for a in actions:
        ours, theirs = step(ours, a), own_step(theirs, a)
        np.testing.assert_array_equal(ours.obs, theirs.obs)
        np.testing.assert_array_equal(ours.reward, theirs.reward)
        np.testing.assert_array_equal(ours.done, theirs.done)
        np.testing.assert_array_equal(ours.pipeline_state.qpos, theirs.data.qpos)
    assert float(ours.reward) > 0.0  # the cart-pole starts upright and pays for staying so


def test_a_sweep_trains_seeds_of_a_playground_task_on_the_run_axis_and_they_rebuild_by_name(tmp_path):
    out = tmp_path / "sweep"
    sets = [f"--set={k}={v}" for k, v in {**TINY, "hidden_sizes": "[16,16]", "episode_length": 64}.items()]
    p = subprocess.run([sys.executable, SWEEP, "--envs", TASK, "--algos", "fpmd_m", "--seeds", "2",
                        "--out", str(out), "--no-progress", *sets],
                       capture_output=True, text=True, timeout=1200, cwd=ROOT)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "sweep of 2 runs" in p.stdout + p.stderr
    run_dir = out / "playground_CartpoleBalance-fpmd_m"
    returns = []
    for seed in (0, 1):
        with open(run_dir / f"seed_{seed}" / "metrics.csv") as f:
            rows = [r for r in csv.DictReader(f) if r.get("eval_return")]
        assert rows and int(rows[-1]["env_steps"]) == TINY["total_steps"]
        returns.append(float(rows[-1]["eval_return"]))
    assert all(np.isfinite(returns)) and returns[0] != returns[1]  # two seeds, two runs
    ckpt = find_checkpoints(str(run_dir / "seed_0"))[-1]
    cfg, trainer, params, _ = load_policy(ckpt)  # by name: no environment object needed
    assert cfg.env == TASK and trainer.env.playground_state is mujoco_playground.State
    assert trainer.agent.sample(params, jax.numpy.zeros((3, 5)), jax.random.PRNGKey(0), 1).shape == (3, 1)


def test_the_cli_lists_playgrounds_environments():
    p = subprocess.run([sys.executable, TRAIN, "--list-envs"], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert p.returncode == 0 and "playground:CartpoleBalance" in p.stdout and "playground:CheetahRun" in p.stdout


def test_a_playground_env_that_cannot_be_built_is_a_one_line_error(monkeypatch):
    def offline(name, **kw):  # what loading a robot from mujoco_menagerie does without a network
        raise subprocess.CalledProcessError(128, ["git", "clone", "https://github.com/deepmind/mujoco_menagerie.git"])

    monkeypatch.setattr(mujoco_playground.registry, "load", offline)
    with pytest.raises(ValueError) as e:
        foreign.load_playground("Go1JoystickFlatTerrain")
    msg = str(e.value)
    assert len(msg.splitlines()) == 1 and "'Go1JoystickFlatTerrain' could not be built" in msg
    assert "fetched from the internet" in msg


def test_the_playground_recipe_loads_on_the_studys_cells():
    over = load_overlay(os.path.join(CONFIG_DIR, "quick_playground.yaml"))
    for task in ("playground:CartpoleBalance", "playground:CheetahRun"):
        for algo in ("fpmd_m", "sac"):
            cfg = load_config(algo, task, over)
            assert (cfg.num_envs, cfg.updates_per_step, cfg.episode_length) == (16, 8, None)
