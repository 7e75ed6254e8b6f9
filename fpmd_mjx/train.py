"""``make_train(cfg)``: the whole training run of ``cfg.algo`` as pure, jittable JAX functions.

The algorithm table (:data:`fpmd_mjx.agents.ALGORITHMS`) says which loop trains each
algorithm: the off-policy loop (:mod:`fpmd_mjx.offpolicy`: FPMD-R, FPMD-M, DPMD, SAC, TD3)
or the on-policy one (:mod:`fpmd_mjx.onpolicy`: PPO). Both return the same
:class:`fpmd_mjx.loops.Trainer`::

    trainer = make_train(cfg)
    state, metrics = jax.jit(trainer.train)(key)            # one seed
    states, metrics = jax.jit(jax.vmap(trainer.train))(keys)  # several seeds

The CLI calls the same ``warmup`` / ``train_chunk`` functions between logging,
evaluation and checkpoints, so both paths share one code path.
"""
from __future__ import annotations

from fpmd_mjx.agents import ALGORITHMS
from fpmd_mjx.loops import Trainer
from fpmd_mjx.offpolicy import make_offpolicy_train
from fpmd_mjx.onpolicy import make_onpolicy_train

LOOPS = {"off_policy": make_offpolicy_train, "on_policy": make_onpolicy_train}


def make_train(cfg, env=None) -> Trainer:
    """The :class:`~fpmd_mjx.loops.Trainer` of ``cfg`` from the loop that trains ``cfg.algo``.

    ``env``: an environment of your own (any object with brax's ``Env`` interface)
    instead of the one ``cfg.env`` names; name it in the
    config as ``custom:NAME`` (``load_config(algo, "custom:NAME", ...)``). Its action range
    and time limit come from the env or the config (:mod:`fpmd_mjx.envs.foreign`)."""
    return LOOPS[ALGORITHMS[cfg.algo].loop](cfg, env)
