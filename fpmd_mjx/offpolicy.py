"""The off-policy loop (FPMD-R, FPMD-M, DPMD, SAC, TD3): the whole training run as pure,
jittable JAX functions (``make_offpolicy_train``; users call :func:`fpmd_mjx.train.make_train`,
which picks the loop of ``cfg.algo``).

One iteration = one step of ``cfg.num_envs`` MJX envs with the current policy,
the transitions written to an on-device replay buffer (flashbax), then
``cfg.updates_per_step`` gradient updates on uniformly sampled batches. The first
``cfg.warmup_iterations`` iterations act uniformly at random and do not learn.

    trainer = make_train(cfg)
    state, metrics = jax.jit(trainer.train)(key)            # one seed
    states, metrics = jax.jit(jax.vmap(trainer.train))(keys)  # several seeds

The CLI calls the same ``warmup`` / ``train_chunk`` functions between logging,
evaluation and checkpoints, so both paths share one code path.

``cfg.devices`` > 1 makes one run data parallel: its envs and each update's batch are
split over that many local devices by sharding constraints, the networks replicated
(:func:`data_parallel`); the math is the single-device run's, up to float32 rounding.
"""
from __future__ import annotations

from typing import Any

import flashbax as fbx
import jax
import jax.numpy as jnp
from flax import struct

from fpmd_mjx.agents import make_agent
from fpmd_mjx.config import ConfigError
from fpmd_mjx.envs.wrappers import VecEnv, scale_action
from fpmd_mjx.loops import Trainer, episode_metrics, make_env, make_evaluate


@struct.dataclass
class TrainState:
    agent: Any
    buffer: Any
    env_state: Any
    key: jax.Array
    iteration: jax.Array  # vector env steps taken (int32)


def check_devices(cfg) -> list:
    """This process's devices if there are at least ``cfg.devices``; ConfigError (one line) otherwise."""
    local = jax.local_devices()
    if cfg.devices > len(local):
        raise ConfigError(f"devices={cfg.devices}: only {len(local)} local {local[0].platform} device(s); "
                          f"valid: 1..{len(local)}")
    return local


def data_parallel(cfg):
    """``(shard_envs, shard_batches)`` for ``cfg.devices`` > 1: sharding constraints that
    split the env axis of a tree and the batch axis of stacked update batches
    ``(updates, batch, ...)`` over the first ``cfg.devices`` local devices (parameters
    stay replicated, so XLA averages the gradients over the devices at every update).
    Identity functions for one device. ConfigError (one line) when too few devices."""
    if cfg.devices == 1:
        return (lambda tree: tree), (lambda tree: tree)
    local = check_devices(cfg)
    mesh = jax.sharding.Mesh(local[:cfg.devices], ("data",))
    P = jax.sharding.PartitionSpec

    def constrain(tree, axis, size):
        def one(x):
            if x.ndim > axis and x.shape[axis] == size:
                spec = P(*([None] * axis + ["data"]))
                return jax.lax.with_sharding_constraint(x, jax.sharding.NamedSharding(mesh, spec))
            return x
        return jax.tree.map(one, tree)

    return (lambda tree: constrain(tree, 0, cfg.num_envs)), (lambda tree: constrain(tree, 1, cfg.batch_size))


def make_offpolicy_train(cfg, env=None) -> Trainer:
    """Build the static pieces (env, networks, optimisers, buffer) of ``cfg`` (``env``:
    an environment of your own instead of the one ``cfg.env`` names; see ``loops.make_env``)."""
    shard_envs, shard_batches = data_parallel(cfg)
    env = make_env(cfg, env)
    vec = VecEnv(env, cfg.num_envs)
    obs_dim, act_dim = env.observation_size, env.action_size
    agent = make_agent(cfg, obs_dim, act_dim)
    # one draw per iteration serves all its updates: (updates_per_step * batch_size) items
    buf = fbx.make_item_buffer(max_length=cfg.buffer_size, min_length=1,
                               sample_batch_size=cfg.updates_per_step * cfg.batch_size, add_batches=True)

    def init(key):
        k_env, k_agent, key = jax.random.split(key, 3)
        dummy = {"obs": jnp.zeros(obs_dim), "action": jnp.zeros(act_dim), "reward": jnp.zeros(()),
                 "next_obs": jnp.zeros(obs_dim), "terminated": jnp.zeros(())}
        return TrainState(agent=agent.init(k_agent), buffer=buf.init(dummy), env_state=shard_envs(vec.reset(k_env)),
                          key=key, iteration=jnp.zeros((), jnp.int32))

    def env_step(state, learn: bool):
        """Act, step the envs, store transitions: returns (state, metrics)."""
        key, k_act = jax.random.split(state.key)
        obs = state.env_state.obs
        if learn:
            action = agent.explore(state.agent, obs, k_act)
        else:
            action = jax.random.uniform(k_act, (cfg.num_envs, act_dim), minval=-1.0, maxval=1.0)
        env_state = shard_envs(vec.step(state.env_state, scale_action(env, action)))
        transition = {"obs": obs, "action": action, "reward": env_state.reward,
                      "next_obs": env_state.info["final_obs"], "terminated": env_state.info["terminated"]}
        state = state.replace(buffer=buf.add(state.buffer, transition), env_state=env_state,
                              key=key, iteration=state.iteration + 1)
        return state, episode_metrics(env_state.done, env_state.info["last_return"], env_state.reward)

    def sgd_steps(state):
        """``cfg.updates_per_step`` updates on fresh uniform batches: (state, mean metrics).

        The batches are drawn together (uniform with replacement, as one by one would
        be): one gather per iteration instead of one per update."""
        def one(agent_state, xs):
            batch, key = xs
            return agent.update(agent_state, batch, key)

        key, k_s, k_u = jax.random.split(state.key, 3)
        batches = shard_batches(jax.tree.map(lambda x: x.reshape((cfg.updates_per_step, cfg.batch_size) + x.shape[1:]),
                                             buf.sample(state.buffer, k_s).experience))
        agent_state, m = jax.lax.scan(one, state.agent, (batches, jax.random.split(k_u, cfg.updates_per_step)))
        return state.replace(agent=agent_state, key=key), jax.tree.map(jnp.mean, m)

    def learn_iteration(state, _):
        state, m_env = env_step(state, learn=True)
        state, m_upd = sgd_steps(state)
        return state, {**m_env, **m_upd}

    def warmup_iteration(state, _):
        return env_step(state, learn=False)

    def warmup(state):
        return jax.lax.scan(warmup_iteration, state, None, length=cfg.warmup_iterations)

    def train_chunk(state, num_iterations: int | None = None):
        """``num_iterations`` (static; default ``cfg.chunk_iterations``) learning iterations."""
        return jax.lax.scan(learn_iteration, state, None, length=num_iterations or cfg.chunk_iterations)

    def train(key):
        state, _ = warmup(init(key))
        return jax.lax.scan(learn_iteration, state, None, length=cfg.learn_iterations)

    evaluate, eval_params = make_evaluate(cfg, env, agent)

    return Trainer(init=init, warmup=warmup, train_chunk=train_chunk, train=train, evaluate=evaluate,
                   eval_params=eval_params, collect=lambda state: env_step(state, learn=True), update=sgd_steps,
                   agent=agent, env=env, cfg=cfg)
