"""Specifications of PPO in the project's own loop through the runner: exact budgets, the run
layout of every algorithm, exact --resume (the optimiser, the normalisers and the learning-rate
schedule restored), the observation normaliser inside the saved policy, seeds on the run axis."""
import csv
import json
import shutil

import jax
import numpy as np
import pytest

from fpmd_mjx import gym_eval
from fpmd_mjx.checkpoint import find_checkpoints
from fpmd_mjx.config import ConfigError, load_config
from fpmd_mjx.rebuild import load_policy
from fpmd_mjx.runner import run

TINY = dict(num_envs=8, ppo_unroll_length=8, ppo_num_minibatches=2, ppo_updates_per_batch=1, chunk_iterations=16,
            hidden_sizes=[16, 16], ppo_value_hidden_sizes=[16, 16], eval_episodes=4, eval_every=128,
            checkpoint_every=128, buffer_size=8)  # one PPO update = 8 x 8 = 64 env steps; a chunk = 2 updates


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
    evals = [(int(r["env_steps"]), int(r["updates"]), float(r["eval_return"])) for r in rows if r["eval_return"]]
    assert [(s, u) for s, u, _ in evals] == [(0, 0), (128, 4), (256, 8)]  # 2 updates x 2 minibatches per 128
    assert all(v >= 1 for _, _, v in evals)  # InvertedPendulum pays 1 per step alive
    chunks = [r for r in rows if r["critic_loss"]]
    assert len(chunks) == 2 and all(np.isfinite(float(r["critic_loss"])) for r in chunks)
    steps = sorted(int(p.name) for p in (out / "checkpoints").iterdir() if p.name.isdigit())
    assert steps == [0, 128, 256] and (out / "best").is_dir()


def test_the_checkpoint_acts_with_its_observation_normaliser_in_mjx_and_gymnasium(ppo_run, tmp_path):
    out, _ = ppo_run
    step_dir = find_checkpoints(str(out / "checkpoints"))[0]
    cfg, trainer, params, meta = load_policy(step_dir)
    normalizer, _ = params
    assert float(normalizer.count) > 0 and np.any(np.asarray(normalizer.mean) != 0)  # the running statistics
    obs = jax.random.normal(jax.random.PRNGKey(0), (5, 4))
    a = trainer.agent.sample(params, obs, jax.random.PRNGKey(1))
    assert a.shape == (5, 1) and bool(np.all(np.abs(np.asarray(a)) <= 1.0))
    assert gym_eval.main([str(step_dir), "--episodes", "3", "--json", str(tmp_path / "g.json")]) == 0
    (row,) = json.load(open(tmp_path / "g.json"))["rows"]
    assert row["algo"] == "ppo" and row["policy"] == "sample" and row["mjx_return"] == meta["eval_return"]
    assert row["gym_return_mean"] == pytest.approx(row["episode_length_mean"])


def test_resume_restores_the_optimiser_and_reproduces_the_uninterrupted_run(ppo_run, tmp_path):
    out, _ = ppo_run
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    shutil.rmtree(copy / "checkpoints" / "256")  # as if stopped after the checkpoint at 128
    res = run(tiny_ppo(), str(copy), resume=True, progress=False)
    assert res.env_steps == 256
    _, _, p_full, _ = load_policy(str(out / "checkpoints" / "256"))
    _, _, p_resumed, _ = load_policy(str(copy / "checkpoints" / "256"))
    # Adam's moments, its step count (the annealed learning rate) and the normalisers carried over:
    # the resumed run ends bit for bit where the uninterrupted one did
    for a, b in zip(jax.tree.leaves(p_full), jax.tree.leaves(p_resumed)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_seeds_train_in_one_program_and_differ(tmp_path):
    res = run(tiny_ppo(), str(tmp_path), num_seeds=2, progress=False)  # tests/test_onpolicy.py's program
    assert res.env_steps == 256 and len(res.run_dirs) == 2
    a = load_policy(find_checkpoints(str(tmp_path / "seed_0" / "checkpoints"))[0])[2]
    b = load_policy(find_checkpoints(str(tmp_path / "seed_1" / "checkpoints"))[0])[2]
    assert any(not np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


@pytest.mark.parametrize("over, words", [
    ({"total_steps": 300}, "ppo: total_steps=300 must be a multiple of num_envs * ppo_unroll_length = 64"),
    ({"warmup_steps": 64}, "ppo has no warm-up: warmup_steps must be 0"),
    ({"chunk_iterations": 12}, "chunk_iterations=12 must be a multiple of ppo_unroll_length=8"),
    ({"ppo_num_minibatches": 3}, "must be a multiple of ppo_num_minibatches=3"),
    ({"devices": 2}, "devices=2: ppo trains one run on one device (valid: devices=1)"),
])
def test_ppo_budgets_and_batches_are_checked_with_one_line_errors(over, words):
    with pytest.raises(ConfigError) as e:
        tiny_ppo(**over)
    assert words in str(e.value) and "\n" not in str(e.value)
