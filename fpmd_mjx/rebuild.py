"""Rebuilding a trained policy from a checkpoint directory alone.

:mod:`fpmd_mjx.checkpoint` reads and writes the files; this module sits above the
trainer and turns a step directory back into ``(cfg, trainer, params, meta)``: the
config saved in ``meta`` rebuilds the trainer (:func:`fpmd_mjx.train.make_train`),
whose agent gives the shapes the saved arrays are restored into.
"""
from __future__ import annotations

import os
from typing import Any, Iterator, Sequence

import jax

import fpmd_mjx
from fpmd_mjx.checkpoint import (FORMAT, CheckpointError, DamagedCheckpoint, RunCheckpointer, read_meta, restore_item,
                                 state_steps, step_dirs, warn_damaged)
from fpmd_mjx.config import ConfigError, from_dict
from fpmd_mjx.envs import foreign
from fpmd_mjx.train import make_train


def load_policy(step_dir: str, env=None):
    """Rebuild the evaluation policy of a checkpoint from its directory alone.

    Returns ``(cfg, trainer, params, meta)``; ``trainer.agent.sample(params, obs, key, nfe)``
    acts and ``trainer.evaluate`` runs MJX episodes. Raises ``CheckpointError`` for a
    directory that is not a checkpoint or comes from an incompatible version. ``env``: the
    environment of your own a ``custom:NAME`` run trained on (needed to rebuild it).
    """
    meta = read_meta(step_dir)
    if meta.get("format") != FORMAT:
        raise CheckpointError(
            f"checkpoint {step_dir!r} has format {meta.get('format')!r} (written by fpmd_mjx "
            f"{meta.get('fpmd_mjx_version', '?')}); this fpmd_mjx {fpmd_mjx.__version__} reads format {FORMAT}")
    try:
        cfg = from_dict(meta["config"])
    except (KeyError, ConfigError) as e:
        raise CheckpointError(f"checkpoint {step_dir!r} has an unusable config: {e}") from None
    if env is None and foreign.is_foreign(cfg.env) and foreign.split(cfg.env)[0] == "custom":
        raise CheckpointError(f"checkpoint {step_dir!r}: {foreign.own_env_message(cfg.env)}")
    try:
        trainer = make_train(cfg, env)
    except ValueError as e:  # e.g. an extra no longer installed, or robot models not at hand
        raise CheckpointError(f"checkpoint {step_dir!r}: {e}") from None
    params = restore_item(step_dir, "policy", trainer.agent.policy_params, trainer.agent)
    return cfg, trainer, params, meta


def load_intact_policy(step_dir: str, env=None):
    """:func:`load_policy` of ``step_dir``, or, when its files are damaged, of the
    newest intact older step of the same ``checkpoints/`` or ``best/`` directory (a
    one-line warning per damaged one; nothing is deleted).  Returns
    ``(step_dir_used, cfg, trainer, params, meta)``; CheckpointError when none is intact."""
    path = os.path.abspath(step_dir)
    name, root = os.path.basename(path), os.path.dirname(path)
    older = [d for d in step_dirs(root) if int(os.path.basename(d)) < int(name)] if name.isdigit() else []
    for d in [step_dir, *older]:
        try:
            return (d, *load_policy(d, env))
        except DamagedCheckpoint as e:
            warn_damaged(d, e.__cause__ or e)
    raise CheckpointError(f"no intact checkpoint in {root!r} ({1 + len(older)} damaged)")


def load_critic(step_dir: str, trainer) -> Any:
    """The online critic parameters saved beside the policy (what ``--policy best_of_n``
    ranks candidates with); CheckpointError when the checkpoint has none."""
    path = os.path.join(os.path.abspath(step_dir), "critic")
    if trainer.agent.critic_params is None:
        raise CheckpointError(f"algo {trainer.cfg.algo!r} has no critic to rank candidates with")
    if not os.path.isdir(path):
        raise CheckpointError(f"checkpoint {step_dir!r} holds no critic parameters (saved by newer versions only)")
    return restore_item(step_dir, "critic", trainer.agent.critic_params, trainer.agent)


def checkpoint_states(run_dir: str, steps: Sequence[int] | None = None) -> Iterator[tuple]:
    """The full training states (replay buffer included) of one seed's periodic checkpoints,
    for studies of a finished or running run: yields ``(step, cfg, trainer, state)``, oldest
    first, for the env steps ``steps`` (default: every checkpoint kept with its state). Raises
    CheckpointError naming the steps asked for that are not kept, and the kept ones, or a run
    directory without checkpoints or with none that holds a training state."""
    if not os.path.isdir(os.path.join(run_dir, "checkpoints")):
        raise CheckpointError(f"{run_dir!r} has no checkpoints/ (a run directory of one seed is needed)")
    ckpt_dirs = {s: os.path.join(run_dir, "checkpoints", str(s)) for s in state_steps(run_dir)}
    if not ckpt_dirs:
        raise CheckpointError(f"{run_dir!r} keeps no checkpoint with a training state under checkpoints/")
    chosen = sorted(ckpt_dirs) if not steps else list(steps)
    missing = [s for s in chosen if s not in ckpt_dirs]
    if missing:
        raise CheckpointError(f"no checkpoint at env steps {missing} in {run_dir!r}; kept: {sorted(ckpt_dirs)}")
    cfg, trainer, _, _ = load_policy(ckpt_dirs[chosen[0]])
    template = jax.eval_shape(trainer.init, jax.random.PRNGKey(0))
    ckpt = RunCheckpointer(run_dir)
    try:
        for step in chosen:
            state, _ = ckpt.restore_state(template, at_most=step)
            yield step, cfg, trainer, state
    finally:
        ckpt.close()
