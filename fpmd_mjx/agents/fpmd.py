"""FPMD-R (flow policy, Eq. 8) and FPMD-M (MeanFlow policy, Eq. 16): Algorithm 1.

Per update: sample a' at the batch's next states from the current policy
(best-of-N by Q, Eq. 18, plus exploration noise); the same a' gives the TD target
of Eq. (17) and the actions a1 ~ pi_old of the weighted flow loss; the actor,
its EMA copy and the target critics step every ``policy_delay`` updates.
Acting in the env uses the EMA policy; evaluation uses one sample, no noise.
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from fpmd_mjx import flows
from fpmd_mjx.agents import critic as C
from fpmd_mjx.agents import mirror
from fpmd_mjx.agents.base import Agent, actor_lr_schedule, make_optimizer
from fpmd_mjx.networks import MeanVelocityField, VelocityField


@struct.dataclass
class FPMDState:
    policy: Any
    policy_ema: Any
    policy_opt: Any
    critic: C.CriticState
    noise: mirror.NoiseState
    q_stats: mirror.QStats
    step: jax.Array  # updates done


def _flow_policy(cfg, act_dim: int, variant: str):
    """Returns ``(net, init_params(key, obs_dim), sample(params, obs, key, nfe), loss)``."""
    kw = dict(act_dim=act_dim, hidden_sizes=cfg.hidden_sizes, activation=cfg.activation,
              time_embed_dim=cfg.time_embed_dim)
    if variant == "r":
        net = VelocityField(**kw)

        def init_params(key, obs_dim):
            return net.init(key, jnp.zeros((1, obs_dim)), jnp.zeros((1, act_dim)), jnp.zeros((1,)))

        def sample(params, obs, key, nfe):
            a0 = cfg.prior_scale * jax.random.normal(key, obs.shape[:-1] + (act_dim,))
            a1 = flows.euler_sample(lambda a, t: net.apply(params, obs, a, t), a0, nfe)
            return jnp.clip(a1, -1.0, 1.0)

        def loss(params, obs, a1, key):  # per-sample ||(a1 - a0) - v(a_t, t | s)||^2, Eq. (8)
            k0, kt = jax.random.split(key)
            a0 = cfg.train_prior_scale * jax.random.normal(k0, a1.shape)
            t = jax.random.uniform(kt, a1.shape[:-1])
            a_t, target = flows.flow_matching_pair(a0, a1, t)
            return jnp.sum((net.apply(params, obs, a_t, t) - target) ** 2, axis=-1)

        return net, init_params, sample, loss

    net = MeanVelocityField(**kw)

    def init_params(key, obs_dim):
        z = jnp.zeros((1,))
        return net.init(key, jnp.zeros((1, obs_dim)), jnp.zeros((1, act_dim)), z, z)

    def sample(params, obs, key, nfe):
        z = cfg.prior_scale * jax.random.normal(key, obs.shape[:-1] + (act_dim,))
        a = flows.meanflow_sample(lambda x, r, t: net.apply(params, obs, x, r, t), z, nfe)
        return jnp.clip(a, -1.0, 1.0)

    def loss(params, obs, a1, key):  # per-sample MeanFlow residual, Eq. (16)
        kz, kt = jax.random.split(key)
        z = cfg.train_prior_scale * jax.random.normal(kz, a1.shape)
        r, t = flows.sample_meanflow_times(kt, a1.shape[:-1])
        u, target = flows.meanflow_target(lambda x, r_, t_: net.apply(params, obs, x, r_, t_), a1, z, r, t)
        return jnp.sum((u - target) ** 2, axis=-1)

    return net, init_params, sample, loss


def make_fpmd(cfg, obs_dim: int, act_dim: int, variant: str) -> Agent:
    """FPMD-R (``variant='r'``) or FPMD-M (``variant='m'``) as an ``Agent``."""
    _, init_policy, sample, flow_loss = _flow_policy(cfg, act_dim, variant)
    qnet, critic_opt, init_critic = C.make_critic(cfg, obs_dim, act_dim)
    actor_opt = make_optimizer(actor_lr_schedule(cfg), cfg)
    init_noise, update_noise = mirror.make_noise(cfg, act_dim)
    train_nfe = cfg.flow_steps if variant == "r" else 1

    def init(key):
        kp, kc = jax.random.split(key)
        policy = init_policy(kp, obs_dim)
        return FPMDState(policy=policy, policy_ema=policy, policy_opt=actor_opt.init(policy),
                         critic=init_critic(kc), noise=init_noise(), q_stats=mirror.QStats.create(),
                         step=jnp.zeros((), jnp.int32))

    def select(policy, critic_params, noise, obs, key):
        """Best-of-N candidates by min-Q (Eq. 18), then Gaussian noise: (B, act_dim)."""
        kc, kn = jax.random.split(key)
        obs_n = jnp.repeat(obs[:, None], cfg.num_particles, axis=1)
        cands = sample(policy, obs_n, kc, train_nfe)  # (B, N, act_dim)
        best = mirror.best_of_n(lambda o, a: C.q_min(qnet, critic_params, o, a), obs, cands)
        std = cfg.noise_scale * jnp.exp(noise.log_alpha)
        return mirror.add_noise(kn, best, std)

    def explore(state, obs, key):
        return select(state.policy_ema, state.critic.params, state.noise, obs, key)

    def actor_step(state, obs, a1, w, key):
        def loss_fn(p):
            return jnp.mean(w * flow_loss(p, obs, a1, key))

        loss, grads = jax.value_and_grad(loss_fn)(state.policy)
        upd, opt_state = actor_opt.update(grads, state.policy_opt, state.policy)
        policy = jax.tree.map(lambda p, u: p + u, state.policy, upd)
        return state.replace(policy=policy, policy_opt=opt_state), loss

    def update(state, batch, key):
        k_sel, k_act = jax.random.split(key)
        next_obs = batch["next_obs"]
        a1 = jax.lax.stop_gradient(select(state.policy, state.critic.params, state.noise, next_obs, k_sel))
        q = C.q_min(qnet, state.critic.params, next_obs, a1)
        critic, metrics = C.critic_update(qnet, critic_opt, state.critic, batch, a1, cfg)
        alpha = jnp.exp(state.noise.log_alpha)
        w = mirror.md_weights(q, state.q_stats, alpha, cfg)
        state = state.replace(critic=critic, q_stats=state.q_stats.update(q))
        do_actor = (state.step % cfg.policy_delay) == 0

        def actor_and_targets(s):
            s, loss = actor_step(s, next_obs, a1, w, k_act)
            target = C.soft_update(s.critic.target, s.critic.params, cfg.tau)
            return s.replace(policy_ema=C.soft_update(s.policy_ema, s.policy, cfg.tau),
                             critic=s.critic.replace(target=target)), loss

        state, actor_loss = jax.lax.cond(do_actor, actor_and_targets,
                                         lambda s: (s, jnp.zeros(())), state)
        state = state.replace(noise=update_noise(state.noise, state.step), step=state.step + 1)
        metrics.update(actor_loss=actor_loss, alpha=alpha, weight_max=w.max(),
                       noise_std=cfg.noise_scale * alpha)
        return state, metrics

    return Agent(init=init, explore=explore, policy_params=lambda s: s.policy_ema,
                 sample=sample, update=update,
                 eval_nfe=cfg.eval_flow_steps if variant == "r" else 1)
