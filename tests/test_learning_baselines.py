"""Learning tests (slow): the SAC and DPMD baselines solve InvertedPendulum in MJX.

The recipe that solves it with FPMD-R (eval 1000 at ~28k env steps): 16 envs, 8
updates per vector step, 2 x 128 networks. A run passes as soon as the MJX
evaluation return (the agent's eval NFE, no noise, 5 episodes, after every chunk of
125 iterations = 2k env steps) reaches 950, and fails at the 60k-step budget.
DPMD uses K = 10 diffusion steps here (20 in the configs) to fit the CPU budget.
"""
import jax
import numpy as np
import pytest

from fpmd_mjx.config import load_config
from fpmd_mjx.train import make_train

RECIPE = dict(total_steps=60_000, warmup_steps=1000, num_envs=16, updates_per_step=8, hidden_sizes=[128, 128],
              tau=0.01, alpha_update_every=100, num_particles=16, flow_steps=5, batch_size=128,
              buffer_size=100_000, eval_episodes=5, chunk_iterations=125, actor_lr_decay_begin=10**6,
              actor_lr_decay_end=2 * 10**6)
PER_ALGO = {"sac": {}, "dpmd": {"flow_steps": 10}}


def solve_inverted_pendulum(algo, target=950.0, seed=0):
    """Train chunk by chunk; return (best eval return, env steps when reached or at budget)."""
    cfg = load_config(algo, "inverted_pendulum", {**RECIPE, **PER_ALGO[algo], "seed": seed})
    trainer = make_train(cfg)
    state, _ = jax.jit(trainer.warmup)(jax.jit(trainer.init)(jax.random.PRNGKey(seed)))
    chunk = jax.jit(trainer.train_chunk)
    evaluate = jax.jit(trainer.evaluate, static_argnums=2)
    best = -np.inf
    while int(state.iteration) * cfg.num_envs < cfg.total_steps:
        state, _ = chunk(state)
        params = trainer.agent.policy_params(state.agent)
        ret = float(np.mean(evaluate(params, jax.random.PRNGKey(int(state.iteration)), trainer.agent.eval_nfe)[0]))
        best = max(best, ret)
        if ret >= target:
            break
    return best, int(state.iteration) * cfg.num_envs


@pytest.mark.slow
@pytest.mark.parametrize("algo", ["sac", "dpmd"])
def test_baseline_solves_inverted_pendulum(algo):
    best, steps = solve_inverted_pendulum(algo)
    assert best >= 950.0, f"{algo}: best MJX eval return {best:.1f} after {steps} env steps"
