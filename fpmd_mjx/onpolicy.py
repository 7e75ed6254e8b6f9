"""``make_onpolicy_train(cfg)``: PPO's whole training run as pure, jittable JAX functions.

The on-policy counterpart of :func:`fpmd_mjx.offpolicy.make_offpolicy_train`, behind the same
:class:`fpmd_mjx.loops.Trainer` interface (:func:`fpmd_mjx.train.make_train` picks it for PPO), so the runner, sweeps (seeds and grid points
on the vmapped run axis), checkpoints and ``--resume`` treat PPO as any other algorithm.
The algorithm (recipe, losses, normalisers) is :mod:`fpmd_mjx.agents.ppo`.

One PPO update = a rollout of ``ppo_unroll_length`` vector steps of ``num_envs`` envs,
GAE over it, then ``ppo_updates_per_batch`` epochs of ``ppo_num_minibatches`` minibatches.
``state.iteration`` counts vector env steps (as the off-policy loop's), so a chunk of
``num_iterations`` vector steps is ``num_iterations / ppo_unroll_length`` PPO updates in
one ``lax.scan``; metrics come per PPO update.

    trainer = make_train(cfg)
    state, metrics = jax.jit(jax.vmap(trainer.train))(keys)  # several seeds
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from fpmd_mjx.agents.ppo import gae, make_ppo, ppo_updates
from fpmd_mjx.envs.wrappers import VecEnv, scale_action
from fpmd_mjx.loops import Trainer, episode_metrics, make_env, make_evaluate


@struct.dataclass
class OnPolicyState:
    agent: Any  # fpmd_mjx.agents.ppo.PPOState
    env_state: Any
    disc_return: jax.Array  # (N,) discounted return of each env's episode so far (reward normaliser)
    key: jax.Array
    iteration: jax.Array  # vector env steps taken (int32)


def make_rollout(cfg, env, vec, ppo):
    """``rollout(state, key) -> (state, traj)``: ``ppo_unroll_length`` vector steps with the
    exploration policy; ``traj`` holds (T, N, ...) arrays obs (raw), action (raw), logp, value,
    reward, disc_return (the reward normaliser's discounted return), final_obs, terminated, done,
    last_return."""
    def rollout(state, key):
        def env_step(carry, k):
            env_state, disc = carry
            action, raw, logp, value = ppo.act(state.agent, env_state.obs, k)
            nxt = vec.step(env_state, scale_action(env, action))
            disc = disc * cfg.gamma + nxt.reward
            step = {"obs": env_state.obs, "action": raw, "logp": logp, "value": value, "reward": nxt.reward,
                    "disc_return": disc, "final_obs": nxt.info["final_obs"], "terminated": nxt.info["terminated"],
                    "done": nxt.done, "last_return": nxt.info["last_return"]}
            return (nxt, jnp.where(nxt.done > 0, 0.0, disc)), step

        (env_state, disc), traj = jax.lax.scan(env_step, (state.env_state, state.disc_return),
                                               jax.random.split(key, cfg.ppo_unroll_length))
        return state.replace(env_state=env_state, disc_return=disc,
                             iteration=state.iteration + cfg.ppo_unroll_length), traj

    return rollout


def make_onpolicy_train(cfg, env=None) -> Trainer:
    """Build the static pieces (env, networks, optimiser) of ``cfg`` (``algo: ppo``; ``env``:
    an environment of your own instead of the one ``cfg.env`` names)."""
    env = make_env(cfg, env)
    vec = VecEnv(env, cfg.num_envs)
    ppo = make_ppo(cfg, env.observation_size, env.action_size)
    agent, unroll = ppo.agent, cfg.ppo_unroll_length
    rollout = make_rollout(cfg, env, vec, ppo)

    def init(key):
        k_env, k_agent, key = jax.random.split(key, 3)
        return OnPolicyState(agent=agent.init(k_agent), env_state=vec.reset(k_env),
                             disc_return=jnp.zeros(cfg.num_envs), key=key, iteration=jnp.zeros((), jnp.int32))

    def ppo_update(state, _):
        """One rollout, GAE, the epochs: (state, metrics of this update)."""
        key, k_roll, k_upd = jax.random.split(state.key, 3)
        state, traj = rollout(state, k_roll)
        next_value = ppo.value(state.agent, traj["final_obs"])
        agent_state, rewards = ppo.scale_rewards(state.agent, traj["reward"], traj["disc_return"])
        adv, ret = gae(rewards, traj["value"], next_value, traj["terminated"], traj["done"], cfg.gamma,
                       cfg.ppo_gae_lambda)
        lr = ppo.learning_rate(agent_state)
        agent_state, m = agent.update(agent_state, {**traj, "advantage": adv, "return": ret}, k_upd)
        explained = 1.0 - jnp.var(ret - traj["value"]) / jnp.maximum(jnp.var(ret), 1e-8)
        episodes = episode_metrics(traj["done"], traj["last_return"], traj["reward"])
        return state.replace(agent=agent_state, key=key), {**episodes, "explained_variance": explained, **m,
                                                           "learning_rate": lr}

    def warmup(state):
        return state, {}

    def train_chunk(state, num_iterations: int | None = None):
        """``num_iterations`` (static; default ``cfg.chunk_iterations``) vector env steps, a multiple
        of ``ppo_unroll_length``: that many / ``ppo_unroll_length`` PPO updates, metrics (updates,)."""
        n = num_iterations or cfg.chunk_iterations
        if n % unroll:
            raise ValueError(f"ppo: a chunk of {n} vector env steps is not a multiple of "
                             f"ppo_unroll_length={unroll}")
        return jax.lax.scan(ppo_update, state, None, length=n // unroll)

    def train(key):
        return jax.lax.scan(ppo_update, init(key), None, length=ppo_updates(cfg))

    evaluate, eval_params = make_evaluate(cfg, env, agent)

    return Trainer(init=init, warmup=warmup, train_chunk=train_chunk, train=train,
                   evaluate=evaluate, eval_params=eval_params, collect=None, update=None,
                   agent=agent, env=env, cfg=cfg)
