"""What every training loop shares: the ``Trainer`` interface the runner drives, the
environment a config names, episode statistics and the evaluation policy's episodes.

The loops themselves are :mod:`fpmd_mjx.offpolicy` (FPMD-R, FPMD-M, DPMD, SAC, TD3) and
:mod:`fpmd_mjx.onpolicy` (PPO); :func:`fpmd_mjx.train.make_train` picks one by the
algorithm table (:data:`fpmd_mjx.agents.ALGORITHMS`).
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

from fpmd_mjx import envs
from fpmd_mjx.envs import foreign
from fpmd_mjx.envs.base import MjxTask
from fpmd_mjx.envs.wrappers import scale_action


class Trainer(NamedTuple):
    """Pure functions of one configuration (all jittable and vmappable over keys).

    init(key) -> state, with ``.agent``, ``.env_state``, ``.key`` and ``.iteration`` (int32,
        vector env steps taken: ``iteration * cfg.num_envs`` env steps)
    warmup(state) -> (state, metrics): the random-action warm-up (none for PPO)
    train_chunk(state, num_iterations=cfg.chunk_iterations) -> (state, metrics): learning
        iterations (vector env steps) in one ``lax.scan``
    train(key) -> (state, metrics): init, warmup, then all learning iterations in one scan
    evaluate(params, key, nfe, rule=cfg.eval_rule) -> (returns, lengths): ``cfg.eval_episodes`` full episodes
    eval_params(agent_state, rule=cfg.eval_rule) -> what ``evaluate`` takes as ``params`` under ``rule``
    collect(state) -> (state, metrics), update(state) -> (state, metrics): the two halves of an
        off-policy iteration (None for PPO)
    """

    init: Callable
    warmup: Callable
    train_chunk: Callable
    train: Callable
    evaluate: Callable
    eval_params: Callable
    collect: Any
    update: Any
    agent: Any
    env: Any
    cfg: Any


def make_env(cfg, env=None):
    """The single env the run trains on: ``env`` when given (an environment of your own,
    adapted by :func:`fpmd_mjx.envs.foreign.adapt` with the config's ``action_low``,
    ``action_high`` and ``episode_length``); else the environment ``cfg.env`` names
    (``brax:NAME``; ``playground:NAME`` on the MJX backend ``cfg.physics``), or the MJX task
    of the project's table (profile, physics backend; Warp sized for the larger of the
    training and evaluation batches)."""
    own = dict(action_low=cfg.action_low, action_high=cfg.action_high, episode_length=cfg.episode_length)
    if env is not None:
        return env if isinstance(env, MjxTask) else foreign.adapt(env, cfg.env, **own)
    if foreign.is_foreign(cfg.env):
        return foreign.make(cfg.env, **own, physics=cfg.physics)
    return envs.make(cfg.env, profile=cfg.physics_profile, physics=cfg.physics,
                     warp_envs=max(cfg.num_envs, cfg.eval_episodes))


def episode_metrics(done, last_return, reward) -> dict:
    """Episodes that ended among these env steps (arrays of one shape: a vector step (N,) or a
    rollout (T, N)), their mean return (NaN if none), the mean reward."""
    n = done.sum()
    return {
        "episodes": n,
        "episode_return": jnp.where(n > 0, (last_return * done).sum() / jnp.maximum(n, 1), jnp.nan),
        "reward": reward.mean(),
    }


def make_evaluate(cfg, env, agent):
    """``(evaluate, eval_params)`` of the evaluation policy.

    ``eval_params(agent_state, rule=None)``: what ``evaluate`` acts with under ``rule``
    (default ``cfg.eval_rule``): the policy's parameters for ``sample``, (policy, critic)
    for ``best_of_n``.

    ``evaluate(params, key, nfe, rule=None)``: ``cfg.eval_episodes`` episodes to
    termination or the time limit by ``rule`` (default ``cfg.eval_rule``, Table 1's rule
    of the algorithm): ``"sample"`` one sample, no noise; ``"best_of_n"`` the best of
    ``num_particles`` candidates by min-Q, no noise. Returns (returns, lengths), each (E,)."""
    def rule_of(rule):
        rule = rule or cfg.eval_rule
        if rule == "best_of_n" and agent.best_of_n is None:
            raise ValueError(f"eval_rule best_of_n: algo {cfg.algo!r} has no best-of-N rule")
        return rule

    def eval_params(agent_state, rule: str | None = None):
        policy = agent.policy_params(agent_state)
        return (policy, agent.critic_params(agent_state)) if rule_of(rule) == "best_of_n" else policy

    def evaluate(params, key, nfe: int, rule: str | None = None):
        act = agent.sample if rule_of(rule) == "sample" else agent.best_of_n
        k_reset, k_act = jax.random.split(key)
        s0 = jax.vmap(env.reset)(jax.random.split(k_reset, cfg.eval_episodes))

        def step(carry, k):
            s, alive, ret, length = carry
            s = jax.vmap(env.step)(s, scale_action(env, act(params, s.obs, k, nfe)))
            ret = ret + jnp.where(alive, s.reward, 0.0)
            length = length + alive
            return (s, alive & (s.done == 0), ret, length), None

        zeros = jnp.zeros(cfg.eval_episodes)
        carry = (s0, jnp.ones(cfg.eval_episodes, bool), zeros, zeros.astype(jnp.int32))
        (_, _, ret, length), _ = jax.lax.scan(step, carry, jax.random.split(k_act, env.episode_length))
        return ret, length

    return evaluate, eval_params
