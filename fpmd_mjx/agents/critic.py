"""Clipped double-Q critic with target networks and 1-step TD targets (Eq. 17).

``terminated`` (not time-limit truncation) stops bootstrapping: a transition cut
by the time limit keeps ``gamma * min Q_target(s', a')`` in its target.
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct

from fpmd_mjx.agents.base import make_optimizer
from fpmd_mjx.networks import DoubleQ


@struct.dataclass
class CriticState:
    params: Any
    target: Any
    opt_state: Any


def make_critic(cfg, obs_dim: int, act_dim: int):
    """Returns ``(net, optimizer, init(key) -> CriticState)``."""
    net = DoubleQ(cfg.hidden_sizes, cfg.activation)
    opt = make_optimizer(cfg.critic_lr, cfg)

    def init(key):
        params = net.init(key, jnp.zeros((1, obs_dim)), jnp.zeros((1, act_dim)))
        return CriticState(params=params, target=params, opt_state=opt.init(params))

    return net, opt, init


def q_min(net, params, obs, action):
    """min(Q1, Q2)(s, a): (...,)."""
    return net.apply(params, obs, action).min(axis=-1)


def td_target(net, target_params, batch, next_action, cfg, next_bonus=0.0):
    """y = reward_scale * r + gamma * (1 - terminated) * (min_k Q_target_k(s', a') + bonus): (B,).

    ``next_bonus`` (B,) is SAC's entropy term -alpha log pi(a'|s'); 0 for FPMD/DPMD.
    """
    next_q = q_min(net, target_params, batch["next_obs"], next_action) + next_bonus
    y = cfg.reward_scale * batch["reward"] + cfg.gamma * (1.0 - batch["terminated"]) * next_q
    return jax.lax.stop_gradient(y)


def critic_update(net, opt, state: CriticState, batch, next_action, cfg, next_bonus=0.0):
    """One Adam step on Eq. (17) for both Q heads. Returns ``(state, metrics)``."""
    y = td_target(net, state.target, batch, next_action, cfg, next_bonus)

    def loss_fn(params):
        q = net.apply(params, batch["obs"], batch["action"])  # (B, 2)
        return jnp.mean(jnp.sum((q - y[:, None]) ** 2, axis=-1)), q

    (loss, q), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    updates, opt_state = opt.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    if cfg.critic_double_step:  # the authors' code applies the same gradient a second time
        updates, opt_state = opt.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
    metrics = {"critic_loss": loss, "q_mean": q.mean(), "td_target_mean": y.mean()}
    return state.replace(params=params, opt_state=opt_state), metrics


def soft_update(target, online, tau: float):
    """Polyak average ``target <- (1 - tau) target + tau online``."""
    return jax.tree.map(lambda t, o: (1.0 - tau) * t + tau * o, target, online)
