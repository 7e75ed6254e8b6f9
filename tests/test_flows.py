"""Specifications of the flow math: sampling, targets and the MeanFlow JVP."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fpmd_mjx import flows
from fpmd_mjx.agents.fpmd import make_fpmd
from tests.tiny import tiny_config


def test_flow_matching_loss_is_zero_for_exact_velocity_of_straight_line():
    # Target a1 is a fixed point: the exact velocity field of the straight-line flow
    # from a0 to a1 is v(a_t, t) = (a1 - a_t) / (1 - t), which equals a1 - a0 on the path.
    key = jax.random.PRNGKey(0)
    a0 = jax.random.normal(key, (64, 3))
    a1 = jnp.broadcast_to(jnp.array([0.3, -0.5, 0.9]), a0.shape)
    t = jax.random.uniform(jax.random.PRNGKey(1), (64,), maxval=0.99)
    a_t, target = flows.flow_matching_pair(a0, a1, t)
    v = (a1 - a_t) / (1.0 - t[:, None])
    assert float(jnp.max(jnp.sum((v - target) ** 2, -1))) < 1e-9


def test_one_step_euler_is_exact_for_zero_variance_target():
    # Prop. 2: with var(a1 | s) = 0 the marginal velocity field is (a* - a_t) / (1 - t),
    # so the 1-step sample a0 + v(a0, 0) lands exactly on a*.
    a_star = jnp.array([0.25, -0.75])
    v_fn = lambda a, t: (a_star - a) / (1.0 - t[..., None])
    a0 = jax.random.normal(jax.random.PRNGKey(2), (128, 2))
    one = flows.euler_sample(v_fn, a0, 1)
    np.testing.assert_allclose(one, jnp.broadcast_to(a_star, one.shape), atol=1e-6)


def test_euler_path_has_num_steps_plus_one_points_and_ends_at_sample():
    v_fn = lambda a, t: jnp.ones_like(a)
    a0 = jnp.zeros((5, 2))
    path = flows.euler_sample(v_fn, a0, 4, return_path=True)
    assert path.shape == (5, 5, 2)
    np.testing.assert_allclose(path[-1], flows.euler_sample(v_fn, a0, 4), atol=1e-6)
    np.testing.assert_allclose(path[-1], 1.0, atol=1e-6)


def test_euler_grid_is_uniform_at_power_one_and_shortens_the_last_steps_above():
    np.testing.assert_allclose(flows.euler_grid(5), np.arange(6) / 5, atol=1e-7)
    g = np.asarray(flows.euler_grid(5, 2.0))
    assert g[0] == 0.0 and g[-1] == 1.0
    steps = np.diff(g)
    assert np.all(steps > 0) and np.all(np.diff(steps) < 0)  # each step shorter than the one before
    np.testing.assert_allclose(flows.euler_times(5, 2.0), g[:-1])


def _gaussian_target_field(mu, sigma):
    # The exact marginal velocity of the straight path from N(0, 1) to N(mu, sigma^2):
    # v(x, t) = mu + k(t) (x - t mu), k(t) = (t sigma^2 - (1 - t)) / ((1 - t)^2 + t^2 sigma^2).
    def v_fn(a, t):
        t = t[..., None]
        return mu + (t * sigma**2 - (1 - t)) / ((1 - t) ** 2 + t**2 * sigma**2) * (a - t * mu)
    return v_fn


@pytest.mark.parametrize("power,lo,hi", [(1.0, 0.25, 0.35), (2.0, 0.60, 0.72)])
def test_few_uniform_euler_steps_under_disperse_a_narrow_target_and_a_power_two_grid_much_less(power, lo, hi):
    # 5 Euler steps towards N(0.3, 0.08^2): the uniform grid keeps about 0.30 of the spread,
    # the power-2 grid about 0.66, both ending on the target's mean (studies/flow_spread).
    sigma = 0.08
    a0 = jax.random.normal(jax.random.PRNGKey(3), (20000, 1))
    a1 = flows.euler_sample(_gaussian_target_field(0.3, sigma), a0, 5, power=power)
    assert lo < float(jnp.std(a1)) / sigma < hi
    assert abs(float(jnp.mean(a1)) - 0.3) < 0.01


def test_constant_field_is_integrated_exactly_on_any_grid():
    a0 = jnp.zeros((3, 2))
    for power in (1.0, 2.0, 3.0):
        np.testing.assert_allclose(flows.euler_sample(lambda a, t: jnp.full_like(a, 0.7), a0, 5, power=power),
                                   0.7, atol=1e-6)


def test_fpmd_r_samples_on_its_configured_grid_and_its_one_step_evaluation_ignores_it():
    obs = jax.random.normal(jax.random.PRNGKey(0), (6, 4))
    key = jax.random.PRNGKey(1)
    uniform, power2 = (make_fpmd(tiny_config("fpmd_r", flow_grid_power=p), 4, 1, "r") for p in (1.0, 2.0))
    params = uniform.init(jax.random.PRNGKey(2)).policy
    np.testing.assert_allclose(uniform.sample(params, obs, key, 1), power2.sample(params, obs, key, 1), atol=1e-6)
    assert float(jnp.abs(uniform.sample(params, obs, key, 5) - power2.sample(params, obs, key, 5)).max()) > 1e-4


def _toy_u(x, r, t):
    # A smooth nonlinear average-velocity field to differentiate.
    return jnp.sin(x) * (1.0 + t[..., None] ** 2) + 0.3 * r[..., None] * x**2


def test_meanflow_target_jvp_matches_finite_differences():
    key = jax.random.PRNGKey(3)
    a, z = jax.random.normal(key, (2, 16, 4))
    r, t = flows.sample_meanflow_times(jax.random.PRNGKey(4), (16,))
    u, target = flows.meanflow_target(_toy_u, a, z, r, t)
    x_t = (1 - t[:, None]) * a + t[:, None] * z
    v = z - a
    eps = 1e-3  # central differences along the tangent (v, 0, 1)
    dudt = (_toy_u(x_t + eps * v, r, t + eps) - _toy_u(x_t - eps * v, r, t - eps)) / (2 * eps)
    np.testing.assert_allclose(u, _toy_u(x_t, r, t), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(target, v - (t - r)[:, None] * dudt, rtol=2e-3, atol=2e-3)


def test_meanflow_target_carries_no_gradient():
    a, z = jnp.ones((2, 3)), jnp.zeros((2, 3))
    r, t = jnp.array([0.1, 0.2]), jnp.array([0.5, 0.9])

    def target_sum(scale):
        return flows.meanflow_target(lambda x, r_, t_: scale * _toy_u(x, r_, t_), a, z, r, t)[1].sum()

    assert float(jax.grad(target_sum)(1.5)) == 0.0


def test_meanflow_times_are_ordered_and_distinct():
    r, t = flows.sample_meanflow_times(jax.random.PRNGKey(5), (10_000,))
    assert bool(jnp.all(r <= t)) and bool(jnp.all(t - r > 0))
    assert 0.0 <= float(r.min()) and float(t.max()) <= 1.0


def test_meanflow_one_step_sample_is_exact_for_exact_average_velocity():
    # For a zero-variance target a*, x_t = (1 - t) a* + t z, so the exact average
    # velocity over [0, 1] at x_1 = z is z - a*, and one step returns a*.
    a_star = jnp.array([0.5, -0.2, 0.1])
    u_fn = lambda x, r, t: (x - a_star) / t[..., None]
    z = jax.random.normal(jax.random.PRNGKey(6), (32, 3))
    np.testing.assert_allclose(flows.meanflow_sample(u_fn, z), jnp.broadcast_to(a_star, z.shape), atol=1e-6)
    np.testing.assert_allclose(flows.meanflow_sample(u_fn, z, 4), jnp.broadcast_to(a_star, z.shape), atol=1e-5)


def test_ddpm_sampler_recovers_a_point_target_with_the_exact_noise_predictor():
    K = 20
    _, _, abars = flows.ddpm_schedule(K)
    a_star = jnp.array([0.4, -0.6])

    def eps_fn(x, k):  # exact eps for a point mass at a_star; k is the integer step
        ab = abars[k.astype(jnp.int32)][..., None]
        return (x - jnp.sqrt(ab) * a_star) / jnp.sqrt(1 - ab)

    x_K = 0.5 * jax.random.normal(jax.random.PRNGKey(7), (16, 2))
    out = flows.ddpm_sample(eps_fn, jax.random.PRNGKey(8), x_K, K)
    np.testing.assert_allclose(out, jnp.broadcast_to(a_star, out.shape), atol=1e-4)


@pytest.mark.parametrize("K", [10, 20])
def test_ddpm_forward_process_ends_in_the_standard_normal(K):
    """Cosine schedule: x_K = sqrt(abar_K) a + sqrt(1 - abar_K) eps is N(0, I) to within
    1e-3 in variance, and its mean keeps at most 0.5% of the action (the linear schedule
    it replaced kept 34% at K = 20 and 58% at K = 10); betas grow monotonically."""
    betas, alphas, abars = flows.ddpm_schedule(K)
    assert abars.shape == (K,) and np.all(np.diff(np.asarray(betas)) > 0)
    np.testing.assert_allclose(np.asarray(alphas), 1 - np.asarray(betas))
    assert abs((1.0 - float(abars[-1])) - 1.0) < 1e-3  # variance of x_K
    assert float(jnp.sqrt(abars[-1])) < 5e-3  # mean of x_K for any action in [-1, 1]
    a = jax.random.uniform(jax.random.PRNGKey(0), (200_000, 1), minval=-1, maxval=1)
    eps = jax.random.normal(jax.random.PRNGKey(1), a.shape)
    x_K = flows.ddpm_noised(a, eps, jnp.full(a.shape[:-1], K - 1), abars)
    assert abs(float(x_K.mean())) < 1e-2 and abs(float(x_K.var()) - 1.0) < 1e-2  # Monte Carlo, 200k draws


@pytest.mark.parametrize("variant", ["flow", "meanflow"])
@pytest.mark.parametrize("nfe", [1, 3])
def test_samplers_with_precomputed_time_embeddings_follow_the_same_path(variant, nfe):
    # The fields embed the sampler's fixed times once per call (agent.prepare) instead of
    # once per sample; the sampled actions must be those of embedding inside the field.
    from fpmd_mjx.networks import MeanVelocityField, VelocityField

    obs = jax.random.normal(jax.random.PRNGKey(0), (7, 3))
    z = jax.random.normal(jax.random.PRNGKey(1), (7, 2))
    if variant == "flow":
        net = VelocityField(2, (16, 16), time_embed_dim=8)
        p = net.init(jax.random.PRNGKey(2), obs, z, jnp.zeros(7))
        inline = flows.euler_sample(lambda a, t: net.apply(p, obs, a, t), z, nfe)
        temb = net.embed_times(p, flows.euler_times(nfe))
        pre = flows.euler_sample(lambda a, t, e: net.apply(p, obs, a, t, temb=e), z, nfe, step_inputs=temb)
    else:
        net = MeanVelocityField(2, (16, 16), time_embed_dim=8)
        p = net.init(jax.random.PRNGKey(2), obs, z, jnp.zeros(7), jnp.zeros(7))
        inline = flows.meanflow_sample(lambda x, r, t: net.apply(p, obs, x, r, t), z, nfe)
        temb = net.embed_times(p, *flows.meanflow_times(nfe))
        pre = flows.meanflow_sample(lambda x, r, t, e: net.apply(p, obs, x, r, t, temb=e), z, nfe, step_inputs=temb)
    assert temb.shape[0] == nfe
    np.testing.assert_allclose(pre, inline, atol=1e-5)
    assert float(jnp.abs(pre - z).max()) > 1e-3  # the field moved the samples
