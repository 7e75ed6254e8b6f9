"""One compiled MJX program per task, shared by the task-suite and parity tests.

MJX compiles take 10-90 s per program on a 2-core CPU, so every per-task check
(reset, observation shapes, determinism, teacher-forced parity against
Gymnasium, short rollouts) runs through this single jitted function.
"""
import functools

import jax

from fpmd_mjx import envs, parity  # parity: re-exported for the tests

STARTS, HORIZON = 4, 8  # Gymnasium-driven states per action style, rollout length


@functools.lru_cache(maxsize=None)
def task_program(name):
    """jitted ``(reset_keys (K,2), qpos, qvel, warm, actions) -> dict`` of the
    reset observations/positions and parity's MJX rollouts."""
    env = envs.make(name)
    rollout = parity.mjx_rollout_fn(env)

    def program(keys, qpos, qvel, warm, actions):
        reset = jax.vmap(env.reset)(keys)
        return {"reset_obs": reset.obs, "reset_qpos": reset.pipeline_state.qpos,
                "rollout": rollout(qpos, qvel, warm, actions)}

    return jax.jit(program)


RESET_KEYS = jax.numpy.stack([jax.random.PRNGKey(0), jax.random.PRNGKey(1), jax.random.PRNGKey(0)])


@functools.lru_cache(maxsize=None)
def parity_results(name):
    """Every action style of ``name``: STARTS Gymnasium-driven states, HORIZON
    steps, C model with the port's option changes (Humanoid: Newton).  Returns
    ``(results, last program outputs)``."""
    outputs = {}

    def rollout(*args):
        outputs["last"] = jax.device_get(task_program(name)(RESET_KEYS, *args))
        return outputs["last"]["rollout"]

    results = parity.compare_task(name, n_starts=STARTS, horizon=HORIZON, seed=3,
                                  match_mjx_options=True, rollout=rollout)
    return results, outputs["last"]
