"""The algorithm interface the trainer plugs in.

An algorithm is a small set of pure functions over its own state pytree; the
trainer (``fpmd_mjx.train``) owns the env, the replay buffer and the loop.
Actions are in the normalised box [-1, 1]^act_dim; the trainer maps them to the
task's actuator range.
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional

import optax


class Agent(NamedTuple):
    """An algorithm as pure functions.

    init(key) -> state
    explore(state, obs (B, obs_dim), key) -> actions (B, act_dim): training-time acting
    policy_params(state) -> params: the parameters evaluation and checkpoints use
    sample(params, obs (..., obs_dim), key, nfe) -> actions (..., act_dim): the
        evaluation policy with ``nfe`` network evaluations (``nfe`` static)
    update(state, batch, key) -> (state, metrics): one gradient update
    eval_nfe: the NFE evaluation uses by default
    sample_path(params, obs, key, nfe) -> (nfe + 1, ..., act_dim): optional; the
        whole sampling path of ``sample`` from the prior draw to the action (same key,
        same prior draw), for trajectory plots; None for one-shot policies (SAC)
    critic_params(state) -> critic params: optional; saved in checkpoints for ``best_of_n``
    best_of_n((policy_params, critic_params), obs (B, obs_dim), key, nfe) -> (B, act_dim):
        optional; the other evaluation rule of the authors' release: the best of
        ``num_particles`` candidates by min(Q1, Q2), no noise (None for SAC)
    prepare(params, nfe) -> consts, sample_prepared(params, consts, obs, key, nfe): optional;
        ``sample`` split in two: what depends on the parameters alone, computed once (e.g.
        the time embeddings of the sampler's fixed times), and the per-observation rest
        (``sample(p, o, k, n) == sample_prepared(p, prepare(p, n), o, k, n)``)
    """

    init: Callable[..., Any]
    explore: Callable[..., Any]
    policy_params: Callable[[Any], Any]
    sample: Callable[..., Any]
    update: Callable[..., Any]
    eval_nfe: int
    sample_path: Optional[Callable[..., Any]] = None
    critic_params: Optional[Callable[[Any], Any]] = None
    best_of_n: Optional[Callable[..., Any]] = None
    prepare: Optional[Callable[..., Any]] = None
    sample_prepared: Optional[Callable[..., Any]] = None


def actor_lr_schedule(cfg):
    """Actor learning rate: ``actor_lr`` decaying linearly to ``actor_lr_final`` between
    updates ``actor_lr_decay_begin`` and ``actor_lr_decay_end`` (the optimiser counts actor
    steps, one per ``policy_delay`` updates)."""
    begin = cfg.actor_lr_decay_begin // cfg.policy_delay
    span = max((cfg.actor_lr_decay_end - cfg.actor_lr_decay_begin) // cfg.policy_delay, 1)
    return optax.linear_schedule(cfg.actor_lr, cfg.actor_lr_final, span, begin)


def make_optimizer(lr, cfg):
    opt = optax.adam(lr)
    if cfg.grad_clip > 0:
        opt = optax.chain(optax.clip_by_global_norm(cfg.grad_clip), opt)
    return opt
