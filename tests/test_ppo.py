"""Specifications of the PPO baseline: brax's PPO written to the project's run layout."""
import csv
import json
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from fpmd_mjx.checkpoint import find_checkpoints, load_policy
from fpmd_mjx.config import ConfigError, load_config
from fpmd_mjx.runner import run

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "validation"))
import gym_eval

TINY = dict(num_envs=8, batch_size=8, ppo_num_minibatches=2, ppo_unroll_length=4, ppo_updates_per_batch=1,
            hidden_sizes=[16, 16], ppo_value_hidden_sizes=[16, 16], eval_episodes=4, eval_every=128,
            checkpoint_every=128)  # one PPO training step = 8 x 2 x 4 = 64 env steps


def tiny_ppo(**kw):
    return load_config("ppo", "inverted_pendulum", {**TINY, "total_steps": 256, **kw})


@pytest.fixture(scope="module")
def ppo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ppo")
    res = run(tiny_ppo(), str(out), progress=False)
    return out, res


def test_a_ppo_run_writes_metrics_and_checkpoints_like_every_run(ppo_run):
    out, res = ppo_run
    assert res.env_steps == 256 and not res.interrupted  # the budget is exact
    rows = list(csv.DictReader(open(out / "metrics.csv")))
    evals = [(int(r["env_steps"]), float(r["eval_return"])) for r in rows if r["eval_return"]]
    assert [s for s, _ in evals] == [0, 128, 256]
    assert all(np.isfinite(v) and v > 0 for _, v in evals)
    steps = sorted(int(p.name) for p in (out / "checkpoints").iterdir() if p.name.isdigit())
    assert steps[-1] == 256 and (out / "best").is_dir()


def test_the_checkpoint_acts_with_its_observation_normaliser_in_mjx_and_gymnasium(ppo_run, tmp_path):
    out, _ = ppo_run
    step_dir = find_checkpoints(str(out / "checkpoints"))[0]
    cfg, trainer, params, meta = load_policy(step_dir)
    normalizer, _ = params
    assert np.any(np.asarray(normalizer.mean) != 0)  # the running statistics were saved, not the initial ones
    obs = jax.random.normal(jax.random.PRNGKey(0), (5, 4))
    a = trainer.agent.sample(params, obs, jax.random.PRNGKey(1))
    assert a.shape == (5, 1) and bool(np.all(np.abs(np.asarray(a)) <= 1.0))
    assert gym_eval.main([str(step_dir), "--episodes", "3", "--json", str(tmp_path / "g.json")]) == 0
    (row,) = json.load(open(tmp_path / "g.json"))["rows"]
    assert row["algo"] == "ppo" and row["mjx_return"] == meta["eval_return"] and row["gym_return_mean"] > 0


def test_resume_continues_a_ppo_run_to_a_larger_budget(ppo_run, tmp_path):
    out, _ = ppo_run
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    res = run(tiny_ppo(total_steps=384), str(copy), resume=True, progress=False)
    assert res.env_steps == 384
    rows = [int(r["env_steps"]) for r in csv.DictReader(open(copy / "metrics.csv")) if r["eval_return"]]
    assert rows[-1] == 384 and rows[:3] == [0, 128, 256]


def test_ppo_budgets_and_batches_are_checked_with_one_line_errors():
    with pytest.raises(ConfigError, match="multiple of batch_size"):
        tiny_ppo(total_steps=300)
    with pytest.raises(ConfigError, match="multiple of num_envs"):
        tiny_ppo(num_envs=3)
    with pytest.raises(ValueError, match="brax's on-policy loop"):
        from fpmd_mjx.agents import make_agent

        agent = make_agent(tiny_ppo(), 4, 1)
        agent.update(agent.init(jax.random.PRNGKey(0)), None, None)
