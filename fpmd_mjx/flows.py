"""Flow, MeanFlow and diffusion sampling and regression targets (pure functions).

Conventions
-----------
* FPMD-R (rectified flow, Eq. 6-8): noise ``a0`` at t = 0, action ``a1`` at t = 1,
  ``a_t = t a1 + (1 - t) a0`` and the target velocity is ``a1 - a0``; sampling is
  Euler integration of ``da/dt = v(a, t)`` from 0 to 1 with K steps (NFE = K), uniform
  or on a grid with shorter steps near t = 1 (``euler_grid``).
* FPMD-M (MeanFlow, Eq. 14-16): written with time reversed (tau = 1 - t), as in
  MeanFlow (Geng et al., 2025): action at tau = 0, noise ``z`` at tau = 1,
  ``x_tau = (1 - tau) a + tau z``, ``v = z - a``. The average velocity
  ``u(x_t, r, t)`` over [r, t] satisfies ``u = v - (t - r) du/dt`` (Eq. 9), the
  total derivative ``du/dt = v . d_x u + d_t u`` is one ``jax.jvp``. One-step
  sampling is ``a = z - u(z, 0, 1)`` (the paper's ``a1 = a0 + u(a0, 0, 1)`` with
  the sign of u flipped by the time reversal).
* DPMD: a DDPM noise predictor ``eps(x_k, k)`` (integer step k) with the cosine
  schedule of K steps, ancestral sampling (NFE = K) from the prior draw.

Function arguments ``v_fn(a, t)``, ``u_fn(x, r, t)``, ``eps_fn(x, k)`` are
closures over parameters and state; arrays are ``(..., act_dim)``, times ``(...,)``.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp


def euler_grid(num_steps: int, power: float = 1.0) -> jax.Array:
    """The Euler grid 0 = t_0 < t_1 < ... < t_K = 1, t_k = 1 - (1 - k / K)^power: (num_steps + 1,).

    ``power`` 1 is the uniform grid t_k = k / K. A larger power takes shorter steps near t = 1,
    where the straight-path field of a narrow target changes fastest: K uniform steps towards
    N(mu, sigma^2) shrink the sample's spread to 0.30 sigma at K = 5 and sigma = 0.08 (0.76 at
    K = 20), power 2 to 0.66 sigma at K = 5 (studies/flow_spread)."""
    k = jnp.arange(num_steps + 1)
    if power == 1.0:
        return k * (1.0 / num_steps)
    return 1.0 - (1.0 - k / num_steps) ** power


def euler_times(num_steps: int, power: float = 1.0) -> jax.Array:
    """The times t_k (k < num_steps) of ``euler_grid`` at which ``euler_sample`` evaluates v: (num_steps,)."""
    return euler_grid(num_steps, power)[:-1]


def euler_sample(v_fn, a0: jax.Array, num_steps: int, return_path: bool = False, step_inputs=None,
                 power: float = 1.0):
    """Integrate the flow from ``a0`` (t=0) to t=1 with ``num_steps`` Euler steps on
    ``euler_grid(num_steps, power)`` (uniform by default).

    ``v_fn(a, t)``, or ``v_fn(a, t, step_inputs[k])`` when ``step_inputs`` (leading axis
    num_steps, e.g. the embeddings of ``euler_times``) is given. Returns the final sample
    (..., act_dim), or with ``return_path`` the whole path (num_steps + 1, ..., act_dim).
    """
    uniform = power == 1.0
    grid = euler_grid(num_steps, power)

    def step(a, xs):
        k, inp = xs
        # uniform: t_k = k / K and every step exactly 1 / K, as python floats (bit-for-bit the uniform sampler)
        t_k, dt = (k * (1.0 / num_steps), 1.0 / num_steps) if uniform else (grid[k], grid[k + 1] - grid[k])
        t = jnp.full(a.shape[:-1], t_k, a.dtype)
        a = a + dt * (v_fn(a, t) if step_inputs is None else v_fn(a, t, inp))
        return a, a

    a1, path = jax.lax.scan(step, a0, (jnp.arange(num_steps), step_inputs))
    if return_path:
        return jnp.concatenate([a0[None], path], axis=0)
    return a1


def flow_matching_pair(a0: jax.Array, a1: jax.Array, t: jax.Array):
    """Straight interpolation (Eq. 3): returns ``(a_t, a1 - a0)`` for times t (...,)."""
    t = t[..., None]
    return t * a1 + (1.0 - t) * a0, a1 - a0


def meanflow_times(num_steps: int) -> tuple[jax.Array, jax.Array]:
    """The (r_k, t_k) = (1 - (k+1)/n, 1 - k/n) of ``meanflow_sample``'s jumps: each (num_steps,)."""
    k = jnp.arange(num_steps)
    return 1.0 - (k + 1) / num_steps, 1.0 - k / num_steps


def meanflow_sample(u_fn, z: jax.Array, num_steps: int = 1, stop_after: int | None = None,
                    step_inputs=None) -> jax.Array:
    """MeanFlow sample from noise ``z`` (tau = 1) to an action (tau = 0).

    Each step jumps ``x_r = x_t - (t - r) u(x_t, r, t)`` over an equal share of
    [0, 1]; ``num_steps=1`` is the one-step ``a = z - u(z, 0, 1)`` (NFE = 1).
    ``stop_after=k`` returns the point after the first k of the num_steps jumps.
    ``u_fn(x, r, t)``, or ``u_fn(x, r, t, step_inputs[k])`` when ``step_inputs`` (leading
    axis num_steps, e.g. the embeddings of ``meanflow_times``) is given.
    """
    ones = jnp.ones(z.shape[:-1], z.dtype)
    n = num_steps if stop_after is None else stop_after

    def step(x, xs):
        k, inp = xs
        t = 1.0 - k / num_steps
        r = 1.0 - (k + 1) / num_steps
        u = u_fn(x, r * ones, t * ones) if step_inputs is None else u_fn(x, r * ones, t * ones, inp)
        return x - (t - r) * u, None

    inputs = None if step_inputs is None else jax.tree.map(lambda a: a[:n], step_inputs)
    x, _ = jax.lax.scan(step, z, (jnp.arange(n), inputs))
    return x


def sample_meanflow_times(key: jax.Array, shape) -> tuple[jax.Array, jax.Array]:
    """r, t ~ U[0, 1] independently, swapped so that r <= t (r != t almost surely).

    FPMD uses r != t for every sample (the paper's change from MeanFlow's 25%).
    """
    k1, k2 = jax.random.split(key)
    a, b = jax.random.uniform(k1, shape), jax.random.uniform(k2, shape)
    return jnp.minimum(a, b), jnp.maximum(a, b)


def meanflow_target(u_fn, a: jax.Array, z: jax.Array, r: jax.Array, t: jax.Array):
    """MeanFlow regression pair at ``x_t = (1 - t) a + t z`` (Eq. 10/16).

    Returns ``(u, target)``: ``u = u_fn(x_t, r, t)`` (differentiable) and
    ``target = sg(v - (t - r) du/dt)`` with ``v = z - a`` and ``du/dt`` from a
    forward-mode JVP along the tangent ``(v, 0, 1)``.
    """
    x_t = (1.0 - t[..., None]) * a + t[..., None] * z
    v = z - a
    u, dudt = jax.jvp(u_fn, (x_t, r, t), (v, jnp.zeros_like(r), jnp.ones_like(t)))
    target = v - (t - r)[..., None] * dudt
    return u, jax.lax.stop_gradient(target)


# ---------------------------------------------------------------- diffusion (DPMD)

def ddpm_schedule(num_steps: int, offset: float = 0.008, max_beta: float = 0.999):
    """Cosine schedule (Nichol & Dhariwal, 2021; the authors' diffusion policy):
    ``abar(k) = cos^2((k/K + offset) / (1 + offset) * pi/2)`` normalised to abar(0) = 1,
    ``beta_k = 1 - abar(k+1) / abar(k)`` clipped at ``max_beta``.  Returns (betas,
    alphas, alpha_bars), each (num_steps,); index k is the k-th noising step, so
    ``alpha_bars[-1]`` is 6e-6 at K = 20 (0.25% of the action survives) and 2.4e-5 at
    K = 10: the last step is N(0, I) up to that share."""
    grid = jnp.linspace(0.0, 1.0, num_steps + 1)
    f = jnp.cos((grid + offset) / (1.0 + offset) * jnp.pi / 2) ** 2
    abar = f / f[0]
    betas = jnp.clip(1.0 - abar[1:] / abar[:-1], 0.0, max_beta)
    alphas = 1.0 - betas
    return betas, alphas, jnp.cumprod(alphas)


def ddpm_noised(a: jax.Array, eps: jax.Array, k: jax.Array, alpha_bars: jax.Array):
    """Forward process ``x_k = sqrt(abar_k) a + sqrt(1 - abar_k) eps`` for integer steps k (...,)."""
    ab = alpha_bars[k][..., None]
    return jnp.sqrt(ab) * a + jnp.sqrt(1.0 - ab) * eps


def ddpm_sample(eps_fn, key: jax.Array, x_K: jax.Array, num_steps: int, return_path: bool = False,
                clip: float = 1.0):
    """Ancestral DDPM sampling from ``x_K`` (the caller's prior draw) down to x_0 (NFE = num_steps).

    ``eps_fn(x, k)`` gets the integer step index k (as a float array, K - 1 first);
    the predicted clean action is clipped to ``[-clip, clip]`` at every step.
    """
    betas, alphas, abars = ddpm_schedule(num_steps)

    def step(x, inp):
        k, noise = inp
        eps = eps_fn(x, jnp.full(x.shape[:-1], k, x.dtype))
        x0 = jnp.clip((x - jnp.sqrt(1.0 - abars[k]) * eps) / jnp.sqrt(abars[k]), -clip, clip)
        abar_prev = jnp.where(k > 0, abars[jnp.maximum(k - 1, 0)], 1.0)
        mean = (jnp.sqrt(abar_prev) * betas[k] * x0 + jnp.sqrt(alphas[k]) * (1.0 - abar_prev) * x) / (1.0 - abars[k])
        var = betas[k] * (1.0 - abar_prev) / (1.0 - abars[k])
        x = mean + jnp.where(k > 0, jnp.sqrt(var), 0.0) * noise
        return x, x

    noises = jax.random.normal(key, (num_steps,) + x_K.shape, x_K.dtype)
    ks = jnp.arange(num_steps - 1, -1, -1)
    x0, path = jax.lax.scan(step, x_K, (ks, noises))
    if return_path:
        return jnp.concatenate([x_K[None], path], axis=0)
    return x0
