"""Specifications of PPO (fpmd_mjx.agents.ppo) and its compiled loop (fpmd_mjx.onpolicy)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fpmd_mjx.agents.ppo import (
    clipped_surrogate,
    gae,
    gaussian_logp,
    make_ppo,
    normalize,
    normalizer_init,
    normalizer_update,
    value_loss,
)
from fpmd_mjx.config import load_config
from fpmd_mjx.onpolicy import make_onpolicy_train as make_ppo_train
from fpmd_mjx.programs import programs

# one PPO update = 8 envs x 8 steps = 64 env steps, a chunk = 2 updates (batch_size is unused by PPO);
# the same config as tests/test_ppo.py, whose runs then read these programs back from the compilation cache
TINY = dict(num_envs=8, ppo_unroll_length=8, ppo_num_minibatches=2, ppo_updates_per_batch=1, chunk_iterations=16,
            hidden_sizes=[16, 16], ppo_value_hidden_sizes=[16, 16], eval_episodes=4, eval_every=128,
            checkpoint_every=128, buffer_size=8, total_steps=256)


def tiny_ppo_config(**overrides):
    return load_config("ppo", "inverted_pendulum", {**TINY, **overrides})


# ---- pure pieces -------------------------------------------------------------------------

def gae_oracle(r, v, v_next, term, done, gamma, lam):
    """A_t = sum_l (gamma lam)^l delta_{t+l} up to the end of t's episode or the rollout."""
    T, N = r.shape
    adv = np.zeros((T, N))
    for n in range(N):
        for t in range(T):
            total, weight = 0.0, 1.0
            for u in range(t, T):
                total += weight * (r[u, n] + gamma * (1 - term[u, n]) * v_next[u, n] - v[u, n])
                if done[u, n]:
                    break
                weight *= gamma * lam
            adv[t, n] = total
    return adv


def test_gae_matches_a_plain_loop_and_handles_termination_and_truncation():
    rng = np.random.default_rng(0)
    T, N, gamma, lam = 7, 3, 0.9, 0.8
    r, v, v_next = (rng.normal(size=(T, N)).astype(np.float32) for _ in range(3))
    term, trunc = np.zeros((T, N), np.float32), np.zeros((T, N), np.float32)
    term[2, 0] = 1.0  # env 0 terminates mid-rollout
    trunc[4, 1] = 1.0  # env 1 hits the time limit mid-rollout
    done = np.maximum(term, trunc)
    adv, ret = gae(*map(jnp.asarray, (r, v, v_next, term, done)), gamma, lam)
    np.testing.assert_allclose(adv, gae_oracle(r, v, v_next, term, done, gamma, lam), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ret, np.asarray(adv) + v, rtol=1e-6)
    # terminated: no bootstrap, nothing from the next episode; truncated: bootstrap from V(final_obs)
    np.testing.assert_allclose(adv[2, 0], r[2, 0] - v[2, 0], rtol=1e-6)
    np.testing.assert_allclose(adv[4, 1], r[4, 1] + gamma * v_next[4, 1] - v[4, 1], rtol=1e-6)


def test_normalizer_holds_the_mean_and_variance_of_everything_it_saw():
    rng = np.random.default_rng(1)
    a, b = rng.normal(3.0, 2.0, (50, 4)), rng.normal(-1.0, 0.5, (30, 4))
    stats = normalizer_update(normalizer_update(normalizer_init((4,)), jnp.asarray(a)), jnp.asarray(b))
    seen = np.concatenate([a, b])
    np.testing.assert_allclose(stats.mean, seen.mean(0), rtol=1e-5)
    np.testing.assert_allclose(stats.var, seen.var(0), rtol=1e-5)
    assert float(stats.count) == 80
    np.testing.assert_allclose(normalize(stats, jnp.asarray(seen)).std(0), 1.0, rtol=1e-4)
    assert float(jnp.abs(normalize(stats, jnp.full(4, 1e6))).max()) == 10.0  # clipped to +-10
    np.testing.assert_array_equal(normalize(normalizer_init((4,)), jnp.ones(4)), jnp.ones(4))


def test_clipped_surrogate_and_value_loss_match_hand_computations():
    ratio = np.array([1.5, 0.9, 0.5, 1.1])
    adv = jnp.array([1.0, 1.0, -1.0, -2.0])
    loss, clip_frac, kl = clipped_surrogate(jnp.log(ratio), jnp.zeros(4), adv, 0.2)
    # -min(r A, clip(r) A) per sample: 1.5 -> clipped 1.2; 0.9 inside; 0.5 A<0 -> clipped 0.8; 1.1 inside
    np.testing.assert_allclose(loss, np.mean([-1.2, -0.9, 0.8, 2.2]), rtol=1e-6)
    np.testing.assert_allclose(clip_frac, 0.5)
    np.testing.assert_allclose(kl, np.mean(ratio - 1 - np.log(ratio)), rtol=1e-6)
    v, old_v, ret = jnp.array([2.0, 0.0]), jnp.array([1.0, 0.0]), jnp.array([3.0, 1.0])
    np.testing.assert_allclose(value_loss(v, old_v, ret, 0.2, clip=False), 0.5 * np.mean([1.0, 1.0]))
    # clipped: V_clip = 1.2 for the first sample, (1.2 - 3)^2 = 3.24 > 1
    np.testing.assert_allclose(value_loss(v, old_v, ret, 0.2, clip=True), 0.5 * np.mean([3.24, 1.0]), rtol=1e-6)


def test_actions_are_clipped_for_the_env_but_the_logp_is_of_the_raw_sample():
    ppo = make_ppo(tiny_ppo_config(), 4, 1)
    state = ppo.agent.init(jax.random.PRNGKey(0))
    obs = jax.random.normal(jax.random.PRNGKey(1), (256, 4))
    env_a, raw, logp, value = ppo.act(state, obs, jax.random.PRNGKey(2))
    assert float(jnp.abs(raw).max()) > 1.0 >= float(jnp.abs(env_a).max())  # std 1 at init
    np.testing.assert_array_equal(env_a, jnp.clip(raw, -1, 1))
    mean = ppo.agent.sample(ppo.agent.policy_params(state), obs, None)
    np.testing.assert_allclose(logp, gaussian_logp(raw, mean, jnp.zeros(1)), rtol=1e-5)
    assert value.shape == (256,) and float(jnp.abs(mean).max()) < 0.5  # output gain 0.01


# ---- the compiled loop -------------------------------------------------------------------

def _first(tree):
    return jax.tree.map(lambda x: x[0], tree)


@pytest.fixture(scope="module")
def tiny():
    """The runner's compiled programs (fpmd_mjx.programs) for one run and for two: one chunk
    (2 PPO updates) run twice from seed 0, and the whole budget (2 chunks) for seeds 0 and 1."""
    cfg = tiny_ppo_config()
    one, two = programs(cfg, 1), programs(cfg, 2)
    state0 = one.warmup({}, one.init({}, jnp.stack([jax.random.PRNGKey(0)])))
    runs = [_first(one.chunk({}, state0)) for _ in range(2)]
    both = two.warmup({}, two.init({}, jnp.stack([jax.random.PRNGKey(0), jax.random.PRNGKey(1)])))
    both, m1 = two.chunk({}, both)
    both, m2 = two.chunk({}, both)
    metrics = jax.tree.map(lambda a, b: jnp.concatenate([a, b], axis=1), m1, m2)
    return cfg, one, _first(state0), runs, (both, metrics)


def test_chunk_counts_vector_steps_and_returns_per_update_metrics(tiny):
    cfg, _, state0, runs, _ = tiny
    state, metrics = runs[0]
    assert int(state.iteration) == cfg.chunk_iterations and int(state.agent.step) == 2
    for name in ("episodes", "episode_return", "reward", "critic_loss", "actor_loss", "entropy", "approx_kl",
                 "clip_fraction", "learning_rate"):
        assert metrics[name].shape == (cfg.chunk_iterations // cfg.ppo_unroll_length,), name
    for name in ("critic_loss", "actor_loss", "entropy", "approx_kl"):
        assert bool(jnp.all(jnp.isfinite(metrics[name]))), name
    assert float(metrics["episodes"].sum()) > 0  # random InvertedPendulum episodes are short
    for before, after in ((state0.agent.policy, state.agent.policy), (state0.agent.value, state.agent.value),
                          (state0.agent.opt_state, state.agent.opt_state),
                          (state0.agent.obs_norm, state.agent.obs_norm)):
        assert not all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(before), jax.tree.leaves(after)))
    assert float(state.agent.obs_norm.count) == cfg.chunk_iterations * cfg.num_envs


def test_same_seed_same_result_and_seeds_differ(tiny):
    _, _, _, runs, (train_states, train_metrics) = tiny
    for a, b in zip(jax.tree.leaves(runs[0]), jax.tree.leaves(runs[1])):
        np.testing.assert_array_equal(a, b)
    p = jax.tree.leaves(train_states.agent.policy)
    assert not all(np.array_equal(x[0], x[1]) for x in p)
    assert train_metrics["actor_loss"].shape == (2, 4)  # 2 seeds x 4 updates
    np.testing.assert_array_equal(train_states.iteration, [32, 32])


def test_evaluate_runs_full_episodes_with_the_mean_action(tiny):
    cfg, one, _, runs, _ = tiny
    trainer = one.trainer
    params = jax.tree.map(lambda x: x[None], trainer.eval_params(runs[0][0].agent))
    ret, length = _first(one.evaluate[1]({}, params, jax.random.PRNGKey(3)[None]))
    assert ret.shape == length.shape == (cfg.eval_episodes,)
    assert bool(jnp.all(jnp.isfinite(ret))) and bool(jnp.all((length >= 1) & (length <= trainer.env.episode_length)))
    np.testing.assert_allclose(ret, length)  # InvertedPendulum pays 1 per step alive


def test_chunks_and_budgets_must_be_whole_ppo_updates(tiny):
    _, one, state0, _, _ = tiny
    trainer = one.trainer
    with pytest.raises(ValueError, match="ppo_unroll_length"):
        trainer.train_chunk(state0, 20)
    with pytest.raises(ValueError, match="total_steps=200"):  # a one-line ConfigError from the config
        make_ppo_train(tiny_ppo_config(total_steps=200))
    with pytest.raises(ValueError, match="warm-up"):
        make_ppo_train(tiny_ppo_config(warmup_steps=64))
    state, metrics = trainer.warmup(state0)
    assert state is state0 and metrics == {}
