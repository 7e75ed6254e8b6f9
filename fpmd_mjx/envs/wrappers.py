"""Batched env with a time limit and auto-reset to a *fresh random* state.

Why not brax's ``EpisodeWrapper`` + ``AutoResetWrapper``: brax's auto-reset
restores the first state sampled at ``reset`` forever after, so every episode
of one env starts from the same initial state.  Gymnasium-style training needs
a freshly sampled initial state per episode, and the final observation s' of
the finished episode (for bootstrapping on truncation), so we keep both here.

State layout after ``step`` (leading axis ``num_envs`` everywhere):

* ``obs``: observation to act on next (post-reset where an episode ended);
* ``reward``: the transition's reward; ``done``: terminated or truncated;
* ``info["terminated"]`` / ``info["truncated"]`` (float 0/1; truncated only by
  the time limit and 0 when terminated at the same step);
* ``info["final_obs"]``: the true next observation s' of the transition;
* ``info["steps"]`` (int32), ``info["episode_return"]``: running values of the
  current episode (0 right after a reset);
* ``info["last_return"]``, ``info["last_length"]``: the most recently finished
  episode of each env (for logging; 0 before the first one ends);
* ``info["key"]``: per-env PRNG keys used for the resets;
* ``info["env"]``: the wrapped env's own ``info`` (empty for the project's tasks; an
  environment brought from elsewhere may keep its state there).

Cost: when any env of the batch ended, ``step`` samples a fresh initial state
for every env (one ``mjx.forward`` each) and selects it where an episode ended;
otherwise a ``lax.cond`` skips the resets.  Under an outer ``vmap`` (several
seeds in one program) the cond becomes a select and the resets run every step,
with the same results.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
from brax.envs.base import State, Wrapper



def scale_action(env, a):
    """Map normalised actions in [-1, 1] (..., act_dim) to the task's actuator range."""
    low, high = jnp.asarray(env.action_low), jnp.asarray(env.action_high)
    return low + 0.5 * (a + 1.0) * (high - low)


class VecEnv(Wrapper):
    """``VecEnv(env, num_envs, episode_length=None)``; pure ``reset``/``step``.

    Args:
      env: a single env: a task from ``envs.make`` or an environment brought from elsewhere
        (``envs.foreign.adapt``).
      num_envs: batch size B.
      episode_length: time limit in env steps (default: the task's v4 limit).
    """

    def __init__(self, env, num_envs: int, episode_length: int | None = None):
        super().__init__(env)
        self.num_envs = int(num_envs)
        self.episode_length = int(episode_length or env.episode_length)
        if self.num_envs < 1 or self.episode_length < 1:
            raise ValueError(f"num_envs and episode_length must be >= 1, got "
                             f"{self.num_envs} and {self.episode_length}")

    def reset(self, key: jax.Array) -> State:
        """Batched reset: ``key`` -> State with obs ``(num_envs, obs_size)``."""
        keys = jax.random.split(key, self.num_envs)
        k_next, k_reset = _split_each(keys)
        state = jax.vmap(self.env.reset)(k_reset)
        zeros = jnp.zeros(self.num_envs, state.reward.dtype)
        info = {"terminated": zeros, "truncated": zeros, "final_obs": state.obs,
                "steps": jnp.zeros(self.num_envs, jnp.int32), "episode_return": zeros,
                "last_return": zeros, "last_length": jnp.zeros(self.num_envs, jnp.int32),
                "key": k_next, "env": state.info}
        return state.replace(info=info)

    def step(self, state: State, actions: jax.Array) -> State:
        """Step all envs with ``actions (num_envs, action_size)``; auto-reset the
        ones that terminated or hit the time limit (see module docstring)."""
        expected = (self.num_envs, self.env.action_size)
        if jnp.shape(actions) != expected:
            raise ValueError(f"actions shape {tuple(jnp.shape(actions))} != expected {expected}")
        info = state.info
        inner = state.replace(info=info["env"])
        nxt = jax.vmap(self.env.step)(inner, actions)
        steps = info["steps"] + 1
        terminated = nxt.done
        truncated = jnp.where((steps >= self.episode_length) & (terminated == 0), 1.0, 0.0)
        truncated = truncated.astype(terminated.dtype)
        ended = jnp.maximum(terminated, truncated)
        ep_return = info["episode_return"] + nxt.reward
        k_next, k_reset = _split_each(info["key"])
        merged = jax.lax.cond(jnp.any(ended > 0),
                              lambda: _select(ended > 0, jax.vmap(self.env.reset)(k_reset), nxt),
                              lambda: nxt)
        new_info = {
            "terminated": terminated, "truncated": truncated, "final_obs": nxt.obs,
            "steps": jnp.where(ended > 0, 0, steps).astype(jnp.int32),
            "episode_return": jnp.where(ended > 0, 0.0, ep_return).astype(ep_return.dtype),
            "last_return": jnp.where(ended > 0, ep_return, info["last_return"]),
            "last_length": jnp.where(ended > 0, steps, info["last_length"]).astype(jnp.int32),
            "key": k_next, "env": merged.info,
        }
        return merged.replace(reward=nxt.reward, done=ended, metrics=nxt.metrics, info=new_info)


class ScaledActions(Wrapper):
    """``env`` with ``step`` taking actions in [-1, 1]^act_dim, mapped to the actuator range
    as the trainer maps its agents' actions (for brax's own agents: PPO, SAC)."""

    def step(self, state: State, action: jax.Array) -> State:
        return self.env.step(state, scale_action(self.env, action))


def _split_each(keys: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Per-env split: ``keys (B, 2)`` -> (carry keys, reset keys), each ``(B, 2)``."""
    pairs = jax.vmap(jax.random.split)(keys)
    return pairs[:, 0], pairs[:, 1]


def _select(mask: jax.Array, on_true: State, on_false: State) -> State:
    """Per-env choice between two batched States (pipeline_state and obs).

    MuJoCo Warp's data (``physics: warp``) also holds pools shared by all envs (contacts,
    with no env axis); they are recomputed every step and come from ``on_false``."""
    n = mask.shape[0]

    def pick(a, b):
        if a.ndim == 0 or a.shape[0] != n:  # a shared pool, not a per-env field
            return b
        m = jnp.reshape(mask, mask.shape + (1,) * (a.ndim - 1))
        return jnp.where(m, a, b)

    return on_false.replace(
        pipeline_state=jax.tree.map(pick, on_true.pipeline_state, on_false.pipeline_state),
        obs=pick(on_true.obs, on_false.obs), info=jax.tree.map(pick, on_true.info, on_false.info))
