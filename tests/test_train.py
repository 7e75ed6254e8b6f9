"""Specifications of make_train: one pure, jittable, vmappable training program."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fpmd_mjx.train import make_train
from tests.tiny import tiny_config


@pytest.fixture(scope="module")
def three_runs():
    """train() vmapped over keys (seed 0, seed 1, seed 0) in one compiled program. (FPMD-M:
    ``make_train`` is the same for every algorithm, whose own parts the runner, learning and
    foreign-environment tests train.)"""
    cfg = tiny_config("fpmd_m")
    trainer = make_train(cfg)
    keys = jnp.stack([jax.random.PRNGKey(0), jax.random.PRNGKey(1), jax.random.PRNGKey(0)])
    state, metrics = jax.jit(jax.vmap(trainer.train))(keys)
    return cfg, trainer, state, metrics


def test_train_vmaps_over_seeds_and_returns_per_iteration_metrics(three_runs):
    cfg, _, state, metrics = three_runs
    assert metrics["critic_loss"].shape == (3, cfg.learn_iterations)
    for name in ("critic_loss", "actor_loss", "q_mean", "alpha"):
        assert bool(jnp.all(jnp.isfinite(metrics[name]))), name
    np.testing.assert_array_equal(state.iteration, cfg.total_iterations)
    assert int(state.agent.step[0]) == cfg.learn_iterations * cfg.updates_per_step


def test_same_seed_gives_the_same_result_and_seeds_differ(three_runs):
    _, trainer, state, metrics = three_runs
    p = trainer.agent.policy_params(state.agent)
    leaves = jax.tree.leaves(p)
    assert all(np.array_equal(x[0], x[2]) for x in leaves)
    assert not all(np.array_equal(x[0], x[1]) for x in leaves)
    np.testing.assert_array_equal(metrics["critic_loss"][0], metrics["critic_loss"][2])


def test_replay_buffer_holds_every_transition(three_runs):
    cfg, _, state, _ = three_runs
    n = cfg.total_iterations * cfg.num_envs
    assert int(state.buffer.current_index[0]) == n % cfg.buffer_size


def test_evaluate_runs_full_episodes_with_one_network_evaluation(three_runs):
    cfg, trainer, state, _ = three_runs
    params = jax.tree.map(lambda x: x[0], trainer.agent.policy_params(state.agent))
    ret, length = jax.jit(trainer.evaluate, static_argnums=2)(params, jax.random.PRNGKey(3), 1)
    assert ret.shape == (cfg.eval_episodes,)
    assert bool(jnp.all((length >= 1) & (length <= trainer.env.episode_length)))
    # InvertedPendulum pays 1 per step alive, so the return equals the length.
    np.testing.assert_allclose(ret, length)


def test_training_actions_stay_in_the_normalised_box(three_runs):
    cfg, trainer, state, _ = three_runs
    s = jax.tree.map(lambda x: x[0], state)
    obs = s.env_state.obs
    a = trainer.agent.explore(s.agent, obs, jax.random.PRNGKey(4))
    assert a.shape == (cfg.num_envs, trainer.env.action_size)
    assert float(jnp.abs(a).max()) <= 1.0
