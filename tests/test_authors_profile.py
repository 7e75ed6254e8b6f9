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
from fpmd_mjx.agents.sac import tanh_gaussian_sample
from fpmd_mjx.networks import GaussianActor, sinusoidal

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
    # relax/network/sac.py: log_alpha = 1.0; blocks.py PolicyNet: clip(log_std, -20, 0.5);
    # common.py: the tanh Jacobian term of log pi is commented out.
    assert math.log(cfg.sac_init_alpha) == pytest.approx(1.0)
    assert (cfg.sac_log_std_min, cfg.sac_log_std_max, cfg.sac_tanh_logprob) == (-20.0, 0.5, False)
    ours = load_config("sac", "hopper")
    assert (ours.sac_init_alpha, ours.sac_log_std_min, ours.sac_log_std_max, ours.sac_tanh_logprob) == (
        1.0, -5.0, 2.0, True)


def _sac_cfg(**kw):
    return load_config("sac", "hopper", {**AUTHORS_SAC, "hidden_sizes": [8], "batch_size": 8, **kw})


def _pinned_actor(params, n_hidden, mean, log_std):
    """The actor's parameters with its last layer's kernel zeroed and its bias set to
    (mean, log_std): the network then outputs these raw values for every state."""
    last = f"Dense_{n_hidden}"
    p = jax.tree.map(lambda x: x, params)
    layer = p["params"]["MLP_0"][last]
    layer["kernel"] = jnp.zeros_like(layer["kernel"])
    layer["bias"] = jnp.concatenate([jnp.asarray(mean, jnp.float32), jnp.asarray(log_std, jnp.float32)])
    return p


def test_authors_sac_starts_with_alpha_e():
    state = make_agent(_sac_cfg(), 11, 3).init(jax.random.PRNGKey(0))
    np.testing.assert_allclose(float(state.log_alpha), 1.0, rtol=1e-6)  # relax/network/sac.py
    np.testing.assert_allclose(float(jnp.exp(state.log_alpha)), math.e, rtol=1e-6)
    ours = make_agent(load_config("sac", "hopper", {"hidden_sizes": [8]}), 11, 3).init(jax.random.PRNGKey(0))
    assert float(ours.log_alpha) == 0.0


@pytest.mark.parametrize("overlay, lo, hi", [(AUTHORS_SAC, -20.0, 0.5), ({}, -5.0, 2.0)])
def test_actor_log_std_is_clipped_to_the_configured_bounds(overlay, lo, hi):
    """blocks.py PolicyNet clips the raw log-std (no tanh rescale): values inside the
    bounds pass unchanged, values outside stop at the bounds."""
    cfg = load_config("sac", "hopper", {**overlay, "hidden_sizes": [8]})
    actor = GaussianActor(3, cfg.hidden_sizes, cfg.activation, cfg.sac_log_std_min, cfg.sac_log_std_max)
    params = make_agent(cfg, 11, 3).init(jax.random.PRNGKey(0)).actor  # the agent's actor has this layout
    raw = jnp.array([-1e4, -4.0, 1e4])
    mean, log_std = actor.apply(_pinned_actor(params, 1, jnp.zeros(3), raw), jnp.ones((2, 11)))
    np.testing.assert_array_equal(log_std, np.broadcast_to([lo, -4.0, hi], (2, 3)))
    np.testing.assert_array_equal(mean, 0.0)


def test_log_prob_without_tanh_term_is_the_gaussian_density_of_the_pre_tanh_sample():
    """common.py evaluate: logp = Normal(mean, std).log_prob(u).sum(-1) of the pre-tanh u;
    ours subtracts the tanh Jacobian sum(log(1 - tanh(u)^2)) = sum(2 (log 2 - u - softplus(-2u)))."""
    k = jax.random.split(jax.random.PRNGKey(3), 3)
    mean = jax.random.normal(k[0], (5, 3))
    log_std = jax.random.uniform(k[1], (5, 3), minval=-2.0, maxval=0.5)
    a_theirs, logp_theirs = tanh_gaussian_sample(mean, log_std, k[2], tanh_logprob=False)
    a_ours, logp_ours = tanh_gaussian_sample(mean, log_std, k[2], tanh_logprob=True)
    m, ls = np.asarray(mean, np.float64), np.asarray(log_std, np.float64)
    u = m + np.exp(ls) * np.asarray(jax.random.normal(k[2], (5, 3)), np.float64)  # reparameterised sample
    np.testing.assert_allclose(a_theirs, np.tanh(u), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(a_theirs, a_ours)
    gauss = np.sum(-0.5 * ((u - m) / np.exp(ls)) ** 2 - ls - 0.5 * np.log(2 * np.pi), -1)
    np.testing.assert_allclose(logp_theirs, gauss, rtol=1e-5, atol=1e-5)
    jac = np.sum(2.0 * (np.log(2.0) - u - np.logaddexp(0.0, -2.0 * u)), -1)
    np.testing.assert_allclose(jac, np.sum(np.log(1.0 - np.tanh(u) ** 2), -1), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(np.asarray(logp_theirs) - np.asarray(logp_ours), jac, rtol=1e-4, atol=1e-5)


def test_authors_sac_agent_updates_with_their_temperature_and_log_prob():
    """End to end: the actor pinned to mean c, log-std -20 (so u = c up to 2e-9); one update's
    entropy metric (-mean log pi) with the authors' overlay exceeds ours by exactly the
    tanh term -sum(log(1 - tanh(c)^2)), and alpha is e."""
    k = jax.random.split(jax.random.PRNGKey(1), 3)
    batch = {"obs": jax.random.normal(k[0], (8, 11)), "action": jax.random.uniform(k[1], (8, 3), minval=-1),
             "reward": jnp.ones(8), "next_obs": jax.random.normal(k[2], (8, 11)), "terminated": jnp.zeros(8)}
    c = jnp.array([0.3, -1.2, 2.0])
    entropy = {}
    for tanh_logprob in (False, True):
        agent = make_agent(_sac_cfg(sac_tanh_logprob=tanh_logprob), 11, 3)
        state = agent.init(jax.random.PRNGKey(0))
        state = state.replace(actor=_pinned_actor(state.actor, 1, c, jnp.full(3, -1e4)))
        _, metrics = agent.update(state, batch, jax.random.PRNGKey(2))
        assert all(bool(jnp.isfinite(v)) for v in jax.tree.leaves(metrics))
        np.testing.assert_allclose(float(metrics["alpha"]), math.e, rtol=1e-6)
        entropy[tanh_logprob] = float(metrics["entropy"])
    term = -np.sum(np.log(1.0 - np.tanh(np.asarray(c, np.float64)) ** 2))
    np.testing.assert_allclose(entropy[False] - entropy[True], term, rtol=1e-4)


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
