"""``make_train(cfg)``: the whole training run as pure, jittable JAX functions.

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

from typing import Any, Callable, NamedTuple

import flashbax as fbx
import jax
import jax.numpy as jnp
from flax import struct

from fpmd_mjx import envs
from fpmd_mjx.agents import make_agent
from fpmd_mjx.envs.wrappers import VecEnv


@struct.dataclass
class TrainState:
    agent: Any
    buffer: Any
    env_state: Any
    key: jax.Array
    iteration: jax.Array  # vector env steps taken (int32)


class Trainer(NamedTuple):
    """Pure functions of one configuration (all jittable and vmappable over keys).

    init(key) -> TrainState
    warmup(state) -> (state, metrics): ``cfg.warmup_iterations`` random-action iterations
    train_chunk(state) -> (state, metrics): ``cfg.chunk_iterations`` learning iterations
    train(key) -> (state, metrics): init, warmup, then all learning iterations in one scan
    evaluate(params, key, nfe, rule=cfg.eval_rule) -> (returns, lengths): ``cfg.eval_episodes`` full episodes
    eval_params(agent_state, rule=cfg.eval_rule) -> what ``evaluate`` takes as ``params`` under ``rule``
    collect(state) -> (state, metrics): the first half of a learning iteration (act with
        the exploration policy, step the envs, store the transitions)
    update(state) -> (state, metrics): the second half (``cfg.updates_per_step`` updates)
    """

    init: Callable
    warmup: Callable
    train_chunk: Callable
    train: Callable
    evaluate: Callable
    eval_params: Callable
    collect: Callable
    update: Callable
    agent: Any
    env: Any
    cfg: Any


def _scale_action(env, a):
    """Map normalised actions in [-1, 1] to the actuator range."""
    low, high = jnp.asarray(env.action_low), jnp.asarray(env.action_high)
    return low + 0.5 * (a + 1.0) * (high - low)


def _episode_metrics(env_state):
    done = env_state.done
    n = done.sum()
    return {
        "episodes": n,
        "episode_return": jnp.where(n > 0, (env_state.info["last_return"] * done).sum() / jnp.maximum(n, 1), jnp.nan),
        "reward": env_state.reward.mean(),
    }


def check_devices(cfg) -> list:
    """This process's devices if there are at least ``cfg.devices``; ConfigError (one line) otherwise."""
    from fpmd_mjx.config import ConfigError

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


def make_train(cfg) -> Trainer:
    """Build the static pieces (env, networks, optimisers, buffer) of ``cfg``."""
    shard_envs, shard_batches = data_parallel(cfg)
    env = envs.make(cfg.env, profile=cfg.physics_profile, physics=cfg.physics,
                    warp_envs=max(cfg.num_envs, cfg.eval_episodes))
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
        env_state = shard_envs(vec.step(state.env_state, _scale_action(env, action)))
        transition = {"obs": obs, "action": action, "reward": env_state.reward,
                      "next_obs": env_state.info["final_obs"], "terminated": env_state.info["terminated"]}
        state = state.replace(buffer=buf.add(state.buffer, transition), env_state=env_state,
                              key=key, iteration=state.iteration + 1)
        return state, _episode_metrics(env_state)

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

    def eval_params(agent_state, rule: str | None = None):
        """The parameters ``evaluate`` acts with under ``rule`` (default ``cfg.eval_rule``):
        the policy's for ``sample``, (policy, critic) for ``best_of_n``."""
        policy = agent.policy_params(agent_state)
        return (policy, agent.critic_params(agent_state)) if (rule or cfg.eval_rule) == "best_of_n" else policy

    def evaluate(params, key, nfe: int, rule: str | None = None):
        """Run ``cfg.eval_episodes`` episodes to termination or the time limit with
        the evaluation policy of ``rule`` (default ``cfg.eval_rule``, Table 1's rule of the
        algorithm): ``"sample"`` one sample, no noise (``params``: the policy's);
        ``"best_of_n"`` the best of ``num_particles`` candidates by min-Q, no noise
        (``params``: (policy, critic)). Returns (returns, lengths), each (E,)."""
        act = agent.sample if (rule or cfg.eval_rule) == "sample" else agent.best_of_n
        k_reset, k_act = jax.random.split(key)
        s0 = jax.vmap(env.reset)(jax.random.split(k_reset, cfg.eval_episodes))

        def step(carry, k):
            s, alive, ret, length = carry
            a = act(params, s.obs, k, nfe)
            s = jax.vmap(env.step)(s, _scale_action(env, a))
            ret = ret + jnp.where(alive, s.reward, 0.0)
            length = length + alive
            alive = alive & (s.done == 0)
            return (s, alive, ret, length), None

        zeros = jnp.zeros(cfg.eval_episodes)
        carry = (s0, jnp.ones(cfg.eval_episodes, bool), zeros, zeros.astype(jnp.int32))
        (_, _, ret, length), _ = jax.lax.scan(step, carry, jax.random.split(k_act, env.episode_length))
        return ret, length

    return Trainer(init=init, warmup=warmup, train_chunk=train_chunk, train=train, evaluate=evaluate,
                   eval_params=eval_params, collect=lambda state: env_step(state, learn=True), update=sgd_steps,
                   agent=agent, env=env, cfg=cfg)
