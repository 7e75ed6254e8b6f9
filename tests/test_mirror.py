"""Specifications of the mirror-descent weights, best-of-N selection and noise schedule."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fpmd_mjx.agents import mirror
from fpmd_mjx.config import Config

STATS = mirror.QStats(mean=jnp.asarray(3.0), std=jnp.asarray(2.0))


@pytest.mark.parametrize("lam_follows_alpha", [True, False])
def test_paper_weights_are_invariant_to_a_constant_shift_of_q(lam_follows_alpha):
    cfg = Config(lam=0.5, lam_follows_alpha=lam_follows_alpha)
    q = jax.random.normal(jax.random.PRNGKey(0), (256,)) * 5.0
    w = mirror.md_weights(q, STATS, jnp.asarray(2.0), cfg)
    w_shift = mirror.md_weights(q + 1234.5, STATS, jnp.asarray(2.0), cfg)
    np.testing.assert_allclose(w, w_shift, rtol=1e-4)


def test_paper_weights_stay_finite_for_q_in_the_thousands():
    cfg = Config(lam=0.01, lam_follows_alpha=False)
    q = jnp.linspace(-5000.0, 8000.0, 256)
    w = mirror.md_weights(q, mirror.QStats.create(), jnp.asarray(1.0), cfg)
    assert bool(jnp.all(jnp.isfinite(w))) and float(w.max()) <= 256.0 and float(w.min()) >= 0.0
    assert int(jnp.argmax(w)) == 255


def test_paper_weights_are_proportional_to_exp_q_over_lambda():
    cfg = Config(lam=1.0, lam_follows_alpha=False)
    q = jnp.array([0.0, 1.0, 2.0])
    w = mirror.md_weights(q, mirror.QStats(mean=jnp.zeros(()), std=jnp.ones(())), jnp.asarray(1.0), cfg)
    np.testing.assert_allclose(w / w[0], jnp.exp(q), rtol=1e-5)
    np.testing.assert_allclose(w.mean(), 1.0, rtol=1e-5)


def test_authors_weighting_reproduces_the_released_expression():
    cfg = Config(weighting="authors")
    q = jnp.array([-10.0, 0.0, 2.0, 10.0])
    alpha = jnp.asarray(0.5)
    w = mirror.md_weights(q, STATS, alpha, cfg)
    np.testing.assert_allclose(w, jnp.exp(jnp.clip(q - 3.0 / 2.0, -3, 3) / 0.5), rtol=1e-6)


def test_per_state_weights_rank_actions_within_a_state_not_states():
    """Two states whose Q levels differ by 100: the paper weighting gives the low state
    almost nothing, per_state divides each weight by its own state's Z(s) (from the
    candidates' values), so an action as good as its state's candidates weighs 1 in
    either state; shifting one state's values leaves that state's weights unchanged."""
    cfg = Config(weighting="per_state", lam=1.0, lam_follows_alpha=False)
    q_cands = jnp.array([[0.0, 1.0, 2.0], [100.0, 101.0, 102.0]])
    z = jnp.log(jnp.mean(jnp.exp(q_cands - q_cands[:, :1]), axis=1)) + q_cands[:, 0]  # log Z(s)
    q = z  # each action exactly at its state's normaliser
    stats = mirror.QStats(mean=jnp.zeros(()), std=jnp.ones(()))
    w = mirror.md_weights(q, stats, jnp.asarray(1.0), cfg, q_cands)
    np.testing.assert_allclose(w, [1.0, 1.0], rtol=1e-5)
    paper = mirror.md_weights(q, stats, jnp.asarray(1.0), Config(lam=1.0, lam_follows_alpha=False))
    assert float(paper[0]) < 1e-30 * float(paper[1]) + 1e-20
    shifted = mirror.md_weights(q.at[0].add(-50.0), stats, jnp.asarray(1.0), cfg, q_cands.at[0].add(-50.0))
    np.testing.assert_allclose(shifted, w, rtol=1e-5)


def test_weight_stats_give_the_effective_sample_size_and_largest_share():
    even = mirror.weight_stats(jnp.ones(256))
    np.testing.assert_allclose([even["weight_ess"], even["weight_max_share"]], [256.0, 1 / 256], rtol=1e-6)
    one = mirror.weight_stats(jnp.array([1.0] + [0.0] * 255))
    np.testing.assert_allclose([one["weight_ess"], one["weight_max_share"]], [1.0, 1.0], rtol=1e-6)


def test_candidate_stats_give_the_policy_spread_and_the_best_of_n_gain():
    # two states, N = 2 candidates in 1-D: at state 0 they sit at -0.5 and 0.5 (std 0.5), at
    # state 1 they coincide (std 0); Q rises by 4 from the worse to the better one at state 0
    cands = jnp.array([[[-0.5], [0.5]], [[0.2], [0.2]]])
    q = jnp.array([[1.0, 5.0], [3.0, 3.0]])
    stats = mirror.candidate_stats(cands, q)
    np.testing.assert_allclose([stats["policy_spread"], stats["best_of_n_gain"]], [0.25, 1.0], rtol=1e-6)


def test_best_of_n_picks_the_argmax_of_q():
    obs = jnp.zeros((3, 2))
    cands = jax.random.normal(jax.random.PRNGKey(1), (3, 7, 2))
    q_fn = lambda o, a: -jnp.sum((a - 0.3) ** 2, -1)  # best = closest to 0.3
    best = mirror.best_of_n(q_fn, obs, cands)
    expect = cands[jnp.arange(3), jnp.argmax(q_fn(None, cands), axis=1)]
    np.testing.assert_array_equal(best, expect)


def test_noise_scale_steps_only_every_k_updates_and_falls_towards_target_entropy():
    cfg = Config(alpha_update_every=5, alpha_lr=0.05)
    init, update = mirror.make_noise(cfg, act_dim=3)
    s = init()
    np.testing.assert_allclose(jnp.exp(s.log_alpha), 5.0, rtol=1e-6)
    s1 = update(s, jnp.asarray(1))
    assert float(s1.log_alpha) == float(s.log_alpha)  # not a multiple of 5
    s5 = update(s, jnp.asarray(5))
    assert float(s5.log_alpha) < float(s.log_alpha)  # entropy of std 0.5 is above -1.5 d


def test_add_noise_keeps_actions_in_the_box():
    a = jnp.full((1000, 2), 0.99)
    out = mirror.add_noise(jax.random.PRNGKey(2), a, jnp.asarray(0.5))
    assert float(out.max()) <= 1.0 and float(out.min()) >= -1.0
