"""PPO on the same MJX tasks: brax's own PPO (``brax.training.agents.ppo``), written to
the project's run-directory layout.

PPO is on-policy, so it trains with brax's loop, not the project's off-policy one; what
it shares with the other algorithms is everything around training:

* the task objects (``envs.make``; brax ``PipelineEnv``s), with the policy's [-1, 1]
  actions mapped to the actuator range as for every other algorithm
  (:class:`fpmd_mjx.envs.wrappers.ScaledActions`);
* ``run_ppo`` writes ``metrics.csv`` (env steps, steps/s, brax's deterministic MJX
  evaluation return), TensorBoard, ``run.json`` and orbax checkpoints with the
  ``RunCheckpointer`` of every run (``checkpoints/<step>/`` with the full parameters for
  ``--resume``, ``best/<step>/``), at every evaluation;
* :func:`make_ppo_agent` is the ``Agent`` those checkpoints load into: its policy
  parameters are (observation normaliser, policy network), so ``validation/gym_eval.py``,
  ``scripts/export_policy.py`` and ``trainer.evaluate`` act with the observation
  normalisation included. Its ``update`` is brax's loop, so the ``Agent`` refuses to be
  stepped by the off-policy trainer.

Hyperparameters: ``configs/ppo.yaml``. ``batch_size`` is brax's: sequences of
``ppo_unroll_length`` steps per minibatch, so one training step collects
``batch_size * ppo_num_minibatches * ppo_unroll_length`` env steps. ``--resume`` restores
the parameters and the observation statistics; Adam's moments restart.
"""
from __future__ import annotations

import math
import os
import time
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from fpmd_mjx import envs
from fpmd_mjx.envs.wrappers import ScaledActions


@struct.dataclass
class PPOParams:
    normalizer: Any  # brax running_statistics.RunningStatisticsState of the observations
    policy: Any
    value: Any


def _networks(cfg, obs_dim: int, act_dim: int):
    from brax.training.acme import running_statistics
    from brax.training.agents.ppo import networks as ppo_networks

    from fpmd_mjx.networks import ACTIVATIONS

    return ppo_networks.make_ppo_networks(
        obs_dim, act_dim, preprocess_observations_fn=running_statistics.normalize,
        policy_hidden_layer_sizes=tuple(cfg.hidden_sizes), value_hidden_layer_sizes=tuple(cfg.ppo_value_hidden_sizes),
        activation=ACTIVATIONS[cfg.activation])


def _network_factory(cfg):
    def factory(obs_size, action_size, preprocess_observations_fn):
        del preprocess_observations_fn  # always brax's running normalisation
        return _networks(cfg, obs_size, action_size)

    return factory


def make_ppo_agent(cfg, obs_dim: int, act_dim: int):
    """The acting and evaluation half of PPO as an ``Agent`` (see module doc)."""
    from brax.training.acme import running_statistics, specs
    from brax.training.agents.ppo import networks as ppo_networks

    # imported here, not at the top: the agent registry imports this module
    from fpmd_mjx.agents.base import Agent

    nets = _networks(cfg, obs_dim, act_dim)
    make_policy = ppo_networks.make_inference_fn(nets)

    def init(key):
        kp, kv = jax.random.split(key)
        normalizer = running_statistics.init_state(specs.Array((obs_dim,), jnp.dtype("float32")))
        return PPOParams(normalizer=normalizer, policy=nets.policy_network.init(kp), value=nets.value_network.init(kv))

    def sample(params, obs, key, nfe=1):
        del nfe  # the mean action: one network evaluation
        return make_policy(params, deterministic=True)(obs, key)[0]

    def explore(state, obs, key):
        return make_policy((state.normalizer, state.policy), deterministic=False)(obs, key)[0]

    def update(state, batch, key):
        raise ValueError("PPO trains with brax's on-policy loop (fpmd_mjx.ppo.run_ppo), not the off-policy trainer")

    return Agent(init=init, explore=explore, policy_params=lambda s: (s.normalizer, s.policy), sample=sample,
                 update=update, eval_nfe=1)


def _num_evals(cfg, steps: int) -> int:
    """brax's ``num_evals`` for ``steps`` env steps (a multiple of one training step): the
    evaluations fall every ``m`` training steps, ``m`` the largest divisor of the step count
    whose interval is at most ``eval_every``, so the budget is exact."""
    n = steps // cfg.ppo_steps_per_update
    m = max(1, min(n, cfg.eval_every // cfg.ppo_steps_per_update))
    while n % m:
        m -= 1
    return n // m + 1


def run_ppo(cfg, out: str, num_seeds: int = 1, resume: bool = False, progress: bool = True):
    """Train ``cfg`` (``algo: ppo``) for ``cfg.total_steps`` env steps per seed, seeds one
    after another; the run directory as :func:`fpmd_mjx.runner.run` writes it."""
    from brax.training.agents.ppo import train as ppo

    from fpmd_mjx.checkpoint import RunCheckpointer
    from fpmd_mjx.runner import (
        RunResult,
        _interrupt_after,
        _Logger,
        _progress_bar,
        _seed_dirs,
    )

    env = envs.make(cfg.env, profile=cfg.physics_profile)
    agent = make_ppo_agent(cfg, env.observation_size, env.action_size)
    dirs = _seed_dirs(out, num_seeds)
    latest, best, reached = [math.nan] * num_seeds, [-math.inf] * num_seeds, [0] * num_seeds
    interrupted = False
    for k, run_dir in enumerate(dirs):
        ckpt, logger = RunCheckpointer(run_dir, cfg.keep_checkpoints), _Logger(run_dir, resume)
        start, restore = 0, None
        if resume and ckpt.latest_step() is not None:
            state, meta = ckpt.restore_state(jax.eval_shape(agent.init, jax.random.PRNGKey(0)))
            start, best[k] = int(meta["env_steps"]), meta.get("best_eval_return", -math.inf)
            latest[k] = meta.get("eval_return", math.nan)
            restore = (state.normalizer, state.policy, state.value)
        reached[k] = start
        if start >= cfg.total_steps:
            ckpt.close()
            logger.close()
            continue
        bar = _progress_bar(cfg.total_steps, start, progress and k == 0)
        held = {}
        t_last = [time.time(), start]
        meta_base = {"env": cfg.env, "gym_id": env.gym_id, "algo": cfg.algo, "config": cfg.to_dict(),
                     "num_seeds": num_seeds, "seed": cfg.seed + k, "eval_nfe": 1, "eval_rule": cfg.eval_rule}

        def keep_params(step, make_policy, params, held=held):
            held["params"] = params

        def on_eval(step, metrics, k=k, ckpt=ckpt, logger=logger, bar=bar, held=held, t_last=t_last,
                    meta_base=meta_base, start=start):
            step = start + int(step)
            now = time.time()
            rate = (step - t_last[1]) / max(now - t_last[0], 1e-9) if step > t_last[1] else None
            t_last[:] = [now, step]
            ret = float(metrics["eval/episode_reward"])
            latest[k], reached[k] = ret, step
            row = {"env_steps": step, "updates": cfg.updates_at(step), "wall_s": now, "eval_return": ret}
            if rate is not None:
                row["steps_per_s"] = rate
            logger.log(row)
            if "params" not in held:  # brax evaluates the initial policy before handing out parameters
                return
            normalizer, policy, value = held["params"]
            state = PPOParams(normalizer=normalizer, policy=policy, value=value)
            meta = {**meta_base, "env_steps": step, "updates": cfg.updates_at(step), "eval_return": ret, "best_eval_return": max(best[k], ret),
                    "eval_returns_by_nfe": {"1": ret}}
            with _interrupt_after():
                ckpt.save(step, state, (normalizer, policy), meta)
                if ret >= best[k]:
                    best[k] = ret
                    ckpt.save_best(step, (normalizer, policy), meta)
            bar.update(step - bar.n)
            bar.set_postfix(eval=f"{ret:.1f}", best=f"{best[k]:.1f}")

        try:
            ppo.train(environment=ScaledActions(env), num_timesteps=cfg.total_steps - start,
                      episode_length=env.episode_length, num_envs=cfg.num_envs, learning_rate=cfg.actor_lr,
                      entropy_cost=cfg.ppo_entropy_cost, discounting=cfg.gamma, unroll_length=cfg.ppo_unroll_length,
                      batch_size=cfg.batch_size, num_minibatches=cfg.ppo_num_minibatches,
                      num_updates_per_batch=cfg.ppo_updates_per_batch, normalize_observations=True,
                      reward_scaling=cfg.reward_scale, clipping_epsilon=cfg.ppo_clipping_epsilon,
                      gae_lambda=cfg.ppo_gae_lambda, network_factory=_network_factory(cfg),
                      # a resumed run draws fresh randomness rather than replaying the first segment's
                      seed=cfg.seed + k + 1000 * (start > 0),
                      num_evals=_num_evals(cfg, cfg.total_steps - start),
                      num_eval_envs=cfg.eval_episodes, deterministic_eval=True, progress_fn=on_eval,
                      policy_params_fn=keep_params, restore_params=restore, use_pmap_on_reset=False)
        except KeyboardInterrupt:
            interrupted = True
            print(f"\ninterrupted at env step {reached[k]}; last checkpoint: {ckpt.latest_step()} in "
                  f"{os.path.join(run_dir, 'checkpoints')} (continue with --resume)")
        finally:
            bar.close()
            ckpt.close()
            logger.close()
        if interrupted:
            break
    return RunResult(env_steps=min(reached), eval_returns=latest, best_returns=best, run_dirs=dirs, eval_nfe=1,
                     interrupted=interrupted)

