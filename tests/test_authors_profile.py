"""Specifications of the authors profile (configs/authors.yaml, configs/authors_sac.yaml):
each switch reproduces the released code's choice, and the profile trains."""
import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from fpmd_mjx.agents import critic as C
from fpmd_mjx.agents import make_agent, mirror
from fpmd_mjx.config import Config, load_config, load_overlay
from fpmd_mjx.networks import sinusoidal

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AUTHORS = load_overlay(os.path.join(ROOT, "configs", "authors.yaml"))
AUTHORS_SAC = load_overlay(os.path.join(ROOT, "configs", "authors_sac.yaml"))


@pytest.mark.parametrize("algo", ["fpmd_r", "fpmd_m", "dpmd"])
def test_authors_overlay_loads_for_every_generative_algo(algo):
    cfg = load_config(algo, "hopper", AUTHORS)
    assert (cfg.weighting, cfg.q_stats_rate, cfg.clip_after_noise, cfg.time_embedding, cfg.critic_double_step,
            cfg.eval_episodes) == ("authors", 0.001, False, "authors", True, 20)


def test_authors_sac_overlay():
    cfg = load_config("sac", "hopper", AUTHORS_SAC)
    assert (cfg.reward_scale, cfg.activation, cfg.eval_episodes) == (0.2, "gelu", 20)


def test_noise_without_the_clip_leaves_the_box():
    a = jnp.full((1000, 2), 0.99)
    key = jax.random.PRNGKey(0)
    assert float(jnp.abs(mirror.add_noise(key, a, jnp.asarray(0.5))).max()) <= 1.0
    assert float(jnp.abs(mirror.add_noise(key, a, jnp.asarray(0.5), clip=False)).max()) > 1.0


def test_authors_time_embedding_is_raw_t_with_their_frequencies_and_amplitude():
    t = jnp.array([0.0, 0.3, 1.0])
    got = sinusoidal(t, 16, scale=1000.0, style="authors")  # scale is ignored: raw t
    freqs = 10_000.0 ** (-np.arange(8) / 8)
    ang = np.asarray(t)[:, None] * freqs
    np.testing.assert_allclose(got, np.concatenate([np.sin(ang), np.cos(ang)], -1) / math.sqrt(16), rtol=1e-5)


def test_q_statistics_move_at_the_configured_rate():
    s = mirror.QStats.create().update(jnp.full((4,), 10.0), rate=0.001)
    np.testing.assert_allclose(float(s.mean), 0.01, rtol=1e-5)


def test_critic_double_step_applies_the_same_gradient_twice():
    cfg = Config(hidden_sizes=(8,), critic_double_step=True, critic_lr=1e-2)
    net, opt, init = C.make_critic(cfg, 3, 2)
    state = init(jax.random.PRNGKey(0))
    k = jax.random.split(jax.random.PRNGKey(1), 4)
    batch = {"obs": jax.random.normal(k[0], (16, 3)), "action": jax.random.uniform(k[1], (16, 2)),
             "reward": jax.random.normal(k[2], (16,)), "next_obs": jax.random.normal(k[3], (16, 3)),
             "terminated": jnp.zeros(16)}
    a_next = jnp.zeros((16, 2))
    twice, _ = C.critic_update(net, opt, state, batch, a_next, cfg)
    once_cfg = cfg.replace(critic_double_step=False)
    y = C.td_target(net, state.target, batch, a_next, once_cfg)
    grads = jax.grad(lambda p: jnp.mean(jnp.sum((net.apply(p, batch["obs"], batch["action"]) - y[:, None]) ** 2, -1)))(
        state.params)
    u1, o1 = opt.update(grads, state.opt_state, state.params)
    p1 = optax.apply_updates(state.params, u1)
    u2, _ = opt.update(grads, o1, p1)
    expect = optax.apply_updates(p1, u2)
    for a, b in zip(jax.tree.leaves(twice.params), jax.tree.leaves(expect)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("algo", ["fpmd_r", "fpmd_m"])
def test_an_agent_with_the_authors_profile_updates(algo):
    cfg = load_config(algo, "hopper", {**AUTHORS, "hidden_sizes": [16], "num_particles": 4, "flow_steps": 2,
                                       "batch_size": 8})
    agent = make_agent(cfg, 11, 3)
    state = agent.init(jax.random.PRNGKey(0))
    k = jax.random.split(jax.random.PRNGKey(1), 3)
    batch = {"obs": jax.random.normal(k[0], (8, 11)), "action": jax.random.uniform(k[1], (8, 3), minval=-1),
             "reward": jnp.ones(8), "next_obs": jax.random.normal(k[2], (8, 11)), "terminated": jnp.zeros(8)}
    state, metrics = jax.jit(agent.update)(state, batch, jax.random.PRNGKey(2))
    assert all(bool(jnp.isfinite(v)) for v in jax.tree.leaves(metrics))
    assert 1.0 <= float(metrics["weight_ess"]) <= 8.0
