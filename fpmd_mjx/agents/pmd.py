"""Policy mirror descent with a generative policy: the loop FPMD and DPMD share.

``make_pmd`` is Algorithm 1 with the policy model left open: per update, sample a'
at the batch's next states from the current policy (best-of-N by min-Q, Eq. 18,
plus the learned Gaussian noise); the same a' gives the TD target of Eq. (17) and
the actions a1 ~ pi_old of the exp(Q / lambda)-weighted generative loss; the
actor, its EMA copy and the target critics step every ``policy_delay`` updates.
Acting uses the EMA policy; evaluation one sample, no best-of-N, no noise.

A ``PolicyModel`` supplies what differs between algorithms: parameters, a sampler,
the per-sample regression loss and (optionally) the sampling path. DPMD plugs in a
DDPM noise predictor (``dpmd.py``); FPMD-R/M's flow and MeanFlow fields have the
same shape (``fpmd.py``).
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
from flax import struct

from fpmd_mjx.agents import critic as C
from fpmd_mjx.agents import mirror
from fpmd_mjx.agents.base import Agent, actor_lr_schedule, make_optimizer


class PolicyModel(NamedTuple):
    """A generative policy as pure functions.

    init_params(key, obs_dim) -> params
    sample(params, obs (..., obs_dim), key, nfe) -> actions (..., act_dim) in [-1, 1]
    loss(params, obs (B, obs_dim), a1 (B, act_dim), key) -> per-sample loss (B,)
    sample_path(params, obs, key, nfe) -> (nfe + 1, ..., act_dim): the whole sampling
        path from the prior to the action (same key, same prior draw as ``sample``)
    prepare(params, nfe) -> consts; sample_prepared(params, consts, obs, key, nfe): optional;
        ``sample`` split into what depends on the parameters alone (the embeddings of the
        sampler's fixed times) and the rest, so a deployed policy computes the first once
    """

    init_params: Callable[..., Any]
    sample: Callable[..., Any]
    loss: Callable[..., Any]
    sample_path: Optional[Callable[..., Any]] = None
    prepare: Optional[Callable[..., Any]] = None
    sample_prepared: Optional[Callable[..., Any]] = None


@struct.dataclass
class PMDState:
    policy: Any
    policy_ema: Any
    policy_opt: Any
    critic: C.CriticState
    noise: mirror.NoiseState
    q_stats: mirror.QStats
    step: jax.Array  # updates done


def make_pmd(cfg, obs_dim: int, act_dim: int, model: PolicyModel, train_nfe: int, eval_nfe: int) -> Agent:
    """Algorithm 1 around ``model``; ``train_nfe`` is the NFE of each best-of-N candidate."""
    qnet, critic_opt, init_critic = C.make_critic(cfg, obs_dim, act_dim)
    actor_opt = make_optimizer(actor_lr_schedule(cfg), cfg)
    init_noise, update_noise = mirror.make_noise(cfg, act_dim)

    def init(key):
        kp, kc = jax.random.split(key)
        policy = model.init_params(kp, obs_dim)
        return PMDState(policy=policy, policy_ema=policy, policy_opt=actor_opt.init(policy),
                        critic=init_critic(kc), noise=init_noise(), q_stats=mirror.QStats.create(),
                        step=jnp.zeros((), jnp.int32))

    def candidates(policy, obs, key, nfe):
        """N = ``num_particles`` policy samples per state: obs (B, obs_dim) -> (B, N, act_dim)."""
        return model.sample(policy, jnp.repeat(obs[:, None], cfg.num_particles, axis=1), key, nfe)

    def min_q(critic_params):
        return lambda o, a: C.q_min(qnet, critic_params, o, a)

    def best_candidate(policy, critic_params, obs, key, nfe, return_q=False):
        """Best of N candidates by min-Q (Eq. 18), no noise: (B, act_dim) [, their Q (B, N)]."""
        return mirror.best_of_n(min_q(critic_params), obs, candidates(policy, obs, key, nfe), return_q)

    def select(policy, critic_params, noise, obs, key, diagnostics=False):
        """Best-of-N candidates, then Gaussian noise: (B, act_dim) [, the candidates (B, N, act_dim)
        and their Q (B, N)]."""
        kc, kn = jax.random.split(key)
        cands = candidates(policy, obs, kc, train_nfe)
        best, q_cands = mirror.best_of_n(min_q(critic_params), obs, cands, return_q=True)
        a = mirror.add_noise(kn, best, cfg.noise_scale * jnp.exp(noise.log_alpha), cfg.clip_after_noise)
        return (a, cands, q_cands) if diagnostics else a

    def explore(state, obs, key):
        return select(state.policy_ema, state.critic.params, state.noise, obs, key)

    def actor_step(state, obs, a1, w, key):
        def loss_fn(p):
            return jnp.mean(w * model.loss(p, obs, a1, key))

        loss, grads = jax.value_and_grad(loss_fn)(state.policy)
        upd, opt_state = actor_opt.update(grads, state.policy_opt, state.policy)
        policy = jax.tree.map(lambda p, u: p + u, state.policy, upd)
        return state.replace(policy=policy, policy_opt=opt_state), loss

    def update(state, batch, key):
        k_sel, k_act = jax.random.split(key)
        next_obs = batch["next_obs"]
        a1, cands, q_cands = jax.lax.stop_gradient(select(state.policy, state.critic.params, state.noise, next_obs,
                                                          k_sel, diagnostics=True))
        q = C.q_min(qnet, state.critic.params, next_obs, a1)
        critic, metrics = C.critic_update(qnet, critic_opt, state.critic, batch, a1, cfg)
        alpha = jnp.exp(state.noise.log_alpha)
        w = mirror.md_weights(q, state.q_stats, alpha, cfg, q_cands)
        state = state.replace(critic=critic, q_stats=state.q_stats.update(q, cfg.q_stats_rate))

        def actor_and_targets(s):
            s, loss = actor_step(s, next_obs, a1, w, k_act)
            target = C.soft_update(s.critic.target, s.critic.params, cfg.tau)
            return s.replace(policy_ema=C.soft_update(s.policy_ema, s.policy, cfg.tau),
                             critic=s.critic.replace(target=target)), loss

        do_actor = (state.step % cfg.policy_delay) == 0
        state, actor_loss = jax.lax.cond(do_actor, actor_and_targets, lambda s: (s, jnp.zeros(())), state)
        state = state.replace(noise=update_noise(state.noise, state.step), step=state.step + 1)
        metrics.update(actor_loss=actor_loss, alpha=alpha, weight_max=w.max(),
                       noise_std=cfg.noise_scale * alpha, **mirror.weight_stats(w),
                       **mirror.candidate_stats(cands, q_cands))
        return state, metrics

    return Agent(init=init, explore=explore, policy_params=lambda s: s.policy_ema, sample=model.sample,
                 update=update, eval_nfe=eval_nfe, sample_path=model.sample_path,
                 critic_params=lambda s: s.critic.params,
                 best_of_n=lambda params, obs, key, nfe: best_candidate(*params, obs, key, nfe),
                 prepare=model.prepare, sample_prepared=model.sample_prepared)
