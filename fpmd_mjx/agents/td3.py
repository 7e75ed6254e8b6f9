"""TD3 baseline (Fujimoto et al., 2018): deterministic tanh policy, clipped double Q
(the shared critic), target policy smoothing, delayed actor and target updates.

Actions are in the normalised box [-1, 1]^act_dim, so the noise scales below are in
those units: exploration a = clip(pi(s) + N(0, td3_explore_noise^2)), target smoothing
a' = clip(pi_target(s') + clip(N(0, td3_policy_noise^2), -td3_noise_clip, td3_noise_clip)).
Every ``policy_delay``-th update steps the actor (on -Q1(s, pi(s))) and Polyak-averages
the target actor and target critics; evaluation is pi(s), one network evaluation.
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct

from fpmd_mjx.agents import critic as C
from fpmd_mjx.agents.base import Agent, make_optimizer
from fpmd_mjx.networks import MLP


@struct.dataclass
class TD3State:
    actor: Any
    actor_target: Any
    actor_opt: Any
    critic: C.CriticState
    step: jax.Array  # updates done


def make_td3(cfg, obs_dim: int, act_dim: int) -> Agent:
    net = MLP(cfg.hidden_sizes, act_dim, cfg.activation)
    qnet, critic_opt, init_critic = C.make_critic(cfg, obs_dim, act_dim)
    actor_opt = make_optimizer(cfg.actor_lr, cfg)

    def pi(params, obs):
        return jnp.tanh(net.apply(params, obs))

    def init(key):
        ka, kc = jax.random.split(key)
        actor = net.init(ka, jnp.zeros((1, obs_dim)))
        return TD3State(actor=actor, actor_target=actor, actor_opt=actor_opt.init(actor), critic=init_critic(kc),
                        step=jnp.zeros((), jnp.int32))

    def sample(params, obs, key, nfe=1):
        del key, nfe  # deterministic, one network evaluation
        return pi(params, obs)

    def explore(state, obs, key):
        a = pi(state.actor, obs)
        return jnp.clip(a + cfg.td3_explore_noise * jax.random.normal(key, a.shape), -1.0, 1.0)

    def update(state, batch, key):
        a_next = pi(state.actor_target, batch["next_obs"])
        eps = jnp.clip(cfg.td3_policy_noise * jax.random.normal(key, a_next.shape), -cfg.td3_noise_clip,
                       cfg.td3_noise_clip)
        critic, metrics = C.critic_update(qnet, critic_opt, state.critic, batch, jnp.clip(a_next + eps, -1.0, 1.0),
                                          cfg)
        state = state.replace(critic=critic)

        def actor_and_targets(s):
            def actor_loss(p):  # TD3 ascends Q1 only
                return -jnp.mean(qnet.apply(s.critic.params, batch["obs"], pi(p, batch["obs"]))[..., 0])

            loss, grads = jax.value_and_grad(actor_loss)(s.actor)
            upd, opt_state = actor_opt.update(grads, s.actor_opt, s.actor)
            actor = optax.apply_updates(s.actor, upd)
            critic = s.critic.replace(target=C.soft_update(s.critic.target, s.critic.params, cfg.tau))
            return s.replace(actor=actor, actor_opt=opt_state, critic=critic,
                             actor_target=C.soft_update(s.actor_target, actor, cfg.tau)), loss

        do_actor = (state.step % cfg.policy_delay) == 0
        state, loss = jax.lax.cond(do_actor, actor_and_targets, lambda s: (s, jnp.zeros(())), state)
        metrics.update(actor_loss=loss)
        return state.replace(step=state.step + 1), metrics

    return Agent(init=init, explore=explore, policy_params=lambda s: s.actor, sample=sample, update=update,
                 eval_nfe=1)
