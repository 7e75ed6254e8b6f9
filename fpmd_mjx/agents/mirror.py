"""Policy-mirror-descent pieces shared by FPMD-R, FPMD-M and DPMD.

* ``md_weights``: the importance weights exp(Q(s, a1) / lambda) of Eq. (8)/(16),
  computed without overflow.
* ``best_of_n``: action selection from N candidates by min(Q1, Q2), Eq. (18).
* ``NoiseState``: the learned exploration-noise scale alpha (std = noise_scale *
  alpha), stepped towards a target entropy as in the authors' code.
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import optax
from flax import struct


@struct.dataclass
class QStats:
    """Running (EMA) mean and std of min-Q over sampled batches (scalars)."""

    mean: jax.Array
    std: jax.Array

    @classmethod
    def create(cls):
        return cls(mean=jnp.zeros(()), std=jnp.ones(()))

    def update(self, q: jax.Array, rate: float = 0.005) -> "QStats":
        mean = (1 - rate) * self.mean + rate * q.mean()
        std = (1 - rate) * self.std + rate * q.std()
        return QStats(mean=mean, std=jnp.maximum(std, 1e-6))


def md_weights(q: jax.Array, stats: QStats, alpha: jax.Array, cfg, q_cands: jax.Array | None = None) -> jax.Array:
    """Mirror-descent weights for a batch of min-Q values ``q`` (B,) -> (B,), all finite.

    ``paper`` (default): w = exp((Q - max_B Q) / lambda), lambda = cfg.lam * std_Q
    (times alpha if ``cfg.lam_follows_alpha``), divided by its batch mean. Shifting by
    the batch max and rescaling by a positive batch constant do not change the
    minimiser of Eq. (8)/(16) (the same argument the paper uses to drop Z(s)), but
    keep every weight in (0, B] for Q in the thousands.
    ``per_state``: the same lambda, but each weight divided by its own state's
    normaliser Z(s) = mean_n exp(Q(s, a_n) / lambda), estimated from ``q_cands``
    (B, N), the min-Q values of the best-of-N candidates at that state, so the
    weights rank actions within a state, not states (then divided by the batch mean).
    ``authors``: the released code's exp(clip(Q - mean / std, -3, 3) / alpha)
    (sic: ``-`` binds after ``/``).
    """
    q = jax.lax.stop_gradient(q)
    if cfg.weighting == "authors":
        return jnp.exp(jnp.clip(q - stats.mean / stats.std, -3.0, 3.0) / alpha)
    lam = cfg.lam * stats.std * (alpha if cfg.lam_follows_alpha else 1.0)
    if cfg.weighting == "per_state":
        log_z = jax.nn.logsumexp(jax.lax.stop_gradient(q_cands) / lam, axis=-1) - math.log(q_cands.shape[-1])
        logw = q / lam - log_z
        w = jnp.exp(logw - logw.max())
    else:
        w = jnp.exp((q - q.max()) / lam)
    return w / w.mean()


def weight_stats(w: jax.Array) -> dict:
    """Effective sample size (sum w)^2 / sum w^2 of a batch of weights (B,) and the
    largest single weight's share of the sum: how many samples drive the actor update."""
    total = w.sum()
    return {"weight_ess": total**2 / jnp.sum(w**2), "weight_max_share": w.max() / total}


def candidate_stats(candidates: jax.Array, q: jax.Array) -> dict:
    """How spread the policy is and what best-of-N gains, from the N candidates at B states
    (B, N, act_dim) and their min-Q values (B, N): ``policy_spread``, the candidates' std
    over N in normalised action units, averaged over states and action dimensions;
    ``best_of_n_gain``, max_n Q - mean_n Q averaged over states (Q's units)."""
    return {"policy_spread": jnp.std(candidates, axis=1).mean(),
            "best_of_n_gain": (q.max(axis=1) - q.mean(axis=1)).mean()}


def best_of_n(q_fn, obs: jax.Array, candidates: jax.Array, return_q: bool = False):
    """Eq. (18): pick argmax_i Q(s, a_i).

    obs (B, obs_dim), candidates (B, N, act_dim) -> (B, act_dim), and with
    ``return_q`` also the candidates' values (B, N).
    ``q_fn(obs, actions)`` returns (...,) values.
    """
    n = candidates.shape[1]
    q = q_fn(jnp.repeat(obs[:, None], n, axis=1), candidates)  # (B, N)
    idx = jnp.argmax(q, axis=1)
    best = jnp.take_along_axis(candidates, idx[:, None, None], axis=1)[:, 0]
    return (best, q) if return_q else best


@struct.dataclass
class NoiseState:
    log_alpha: jax.Array
    opt_state: optax.OptState


def make_noise(cfg, act_dim: int):
    """Learned exploration scale. Returns ``(init() -> NoiseState, update(state, step))``.

    Entropy proxy of the added Gaussian: H = 0.5 d log(2 pi e (noise_scale alpha)^2);
    loss = log_alpha * sg(H - target), target = target_entropy_scale * d, one Adam
    step every ``alpha_update_every`` updates (so std falls from 0.5 towards ~0.05).
    """
    opt = optax.adam(cfg.alpha_lr)
    target = cfg.target_entropy_scale * act_dim

    def init():
        log_alpha = jnp.asarray(math.log(cfg.alpha_init), jnp.float32)
        return NoiseState(log_alpha=log_alpha, opt_state=opt.init(log_alpha))

    def update(state: NoiseState, step: jax.Array) -> NoiseState:
        std = cfg.noise_scale * jnp.exp(state.log_alpha)
        entropy = 0.5 * act_dim * jnp.log(2 * jnp.pi * jnp.e * std**2)
        grad = jax.lax.stop_gradient(entropy - target)
        upd, opt_state = opt.update(grad, state.opt_state)
        stepped = NoiseState(log_alpha=state.log_alpha + upd, opt_state=opt_state)
        do = (step % cfg.alpha_update_every) == 0
        return jax.tree.map(lambda a, b: jnp.where(do, a, b), stepped, state)

    return init, update


def add_noise(key, action: jax.Array, std: jax.Array, clip: bool = True) -> jax.Array:
    """Gaussian exploration noise, then (``clip``) clip to the normalised action box [-1, 1]."""
    noisy = action + std * jax.random.normal(key, action.shape)
    return jnp.clip(noisy, -1.0, 1.0) if clip else noisy
