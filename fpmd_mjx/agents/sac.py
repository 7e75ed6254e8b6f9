"""SAC baseline (Haarnoja et al., 2018): tanh-Gaussian actor, clipped double Q,
automatic entropy tuning (target entropy -act_dim). Shares the critic, buffer and
loop with FPMD; acts with one network evaluation (the tanh of the mean at evaluation).

Switches for the authors' SAC (configs/authors_sac.yaml, after their
relax/network/sac.py, common.py and blocks.py): ``sac_init_alpha`` (theirs: e, log
alpha starts at 1), ``sac_log_std_min``/``sac_log_std_max`` (the actor's log-std clip;
theirs: [-20, 0.5], ours [-5, 2]) and ``sac_tanh_logprob`` (false: log pi is the
Gaussian log-density of the pre-tanh sample, without the tanh change-of-variables term,
as theirs).
"""
from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct

from fpmd_mjx.agents import critic as C
from fpmd_mjx.agents.base import Agent, make_optimizer
from fpmd_mjx.networks import GaussianActor


@struct.dataclass
class SACState:
    actor: Any
    actor_opt: Any
    critic: C.CriticState
    log_alpha: jax.Array
    alpha_opt: Any
    step: jax.Array


def tanh_gaussian_sample(mean, log_std, key, tanh_logprob: bool = True):
    """Reparameterised sample a = tanh(u), u ~ N(mean, exp(log_std)^2), and log pi: (..., A), (...,).

    log pi is the Gaussian log-density of u summed over actions, minus the tanh Jacobian
    sum(log(1 - tanh(u)^2)) = sum(2 (log 2 - u - softplus(-2u))) when ``tanh_logprob``
    (the density of a); without it, the density of u (the authors' released code)."""
    std = jnp.exp(log_std)
    u = mean + std * jax.random.normal(key, mean.shape)
    logp = jnp.sum(-0.5 * ((u - mean) / std) ** 2 - log_std - 0.5 * math.log(2 * math.pi), -1)
    if tanh_logprob:
        logp -= jnp.sum(2.0 * (math.log(2.0) - u - jax.nn.softplus(-2.0 * u)), -1)
    return jnp.tanh(u), logp


def make_sac(cfg, obs_dim: int, act_dim: int) -> Agent:
    net = GaussianActor(act_dim, cfg.hidden_sizes, cfg.activation, cfg.sac_log_std_min, cfg.sac_log_std_max)
    qnet, critic_opt, init_critic = C.make_critic(cfg, obs_dim, act_dim)
    actor_opt = make_optimizer(cfg.actor_lr, cfg)
    alpha_opt = optax.adam(cfg.critic_lr)
    target_entropy = -float(act_dim)

    def sample_logp(params, obs, key):
        """Reparameterised tanh-Gaussian sample and its log pi: (..., A), (...,)."""
        mean, log_std = net.apply(params, obs)
        return tanh_gaussian_sample(mean, log_std, key, cfg.sac_tanh_logprob)

    def init(key):
        ka, kc = jax.random.split(key)
        actor = net.init(ka, jnp.zeros((1, obs_dim)))
        log_alpha = jnp.asarray(math.log(cfg.sac_init_alpha), jnp.float32)
        return SACState(actor=actor, actor_opt=actor_opt.init(actor), critic=init_critic(kc),
                        log_alpha=log_alpha, alpha_opt=alpha_opt.init(log_alpha), step=jnp.zeros((), jnp.int32))

    def sample(params, obs, key, nfe=1):
        del key, nfe  # deterministic evaluation: tanh(mean), one network evaluation
        return jnp.tanh(net.apply(params, obs)[0])

    def explore(state, obs, key):
        return sample_logp(state.actor, obs, key)[0]

    def update(state, batch, key):
        k_next, k_pi = jax.random.split(key)
        alpha = jnp.exp(state.log_alpha)
        a_next, logp_next = sample_logp(state.actor, batch["next_obs"], k_next)
        critic, metrics = C.critic_update(qnet, critic_opt, state.critic, batch, a_next, cfg,
                                          next_bonus=-alpha * logp_next)

        def actor_loss(p):
            a, logp = sample_logp(p, batch["obs"], k_pi)
            return jnp.mean(alpha * logp - C.q_min(qnet, state.critic.params, batch["obs"], a)), logp

        (loss, logp), grads = jax.value_and_grad(actor_loss, has_aux=True)(state.actor)
        upd, a_opt = actor_opt.update(grads, state.actor_opt, state.actor)
        alpha_grad = -jnp.mean(logp + target_entropy)  # d/dlog_alpha of -log_alpha (logp + H_target)
        a_upd, al_opt = alpha_opt.update(jax.lax.stop_gradient(alpha_grad), state.alpha_opt)
        critic = critic.replace(target=C.soft_update(critic.target, critic.params, cfg.tau))
        new = SACState(actor=optax.apply_updates(state.actor, upd), actor_opt=a_opt, critic=critic,
                       log_alpha=state.log_alpha + a_upd, alpha_opt=al_opt, step=state.step + 1)
        metrics.update(actor_loss=loss, alpha=alpha, entropy=-logp.mean())
        return new, metrics

    return Agent(init=init, explore=explore, policy_params=lambda s: s.actor, sample=sample,
                 update=update, eval_nfe=1)
