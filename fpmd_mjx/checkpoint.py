"""Orbax checkpoints that rebuild the policy from the directory alone.

Layout of one run directory (one seed)::

    RUN/checkpoints/<env_step>/{state,policy,meta}   every --checkpoint-every steps (last = newest)
    RUN/best/<env_step>/{policy,meta}                best MJX evaluation return so far

``state`` is the whole ``TrainState`` (for ``--resume``), ``policy`` the evaluation
parameters, ``meta`` a JSON dict (task, algo, config, step, eval returns, package
version, ``format``). Saves are synchronous and orbax writes each step to a
temporary directory renamed on completion, so a crash or Ctrl-C mid-save leaves
the previous checkpoint loadable.
"""
from __future__ import annotations

import os
from typing import Any

import jax
import jax.numpy as jnp
import orbax.checkpoint as ocp

import fpmd_mjx

FORMAT = 1  # bump when the saved pytrees change incompatibly


class CheckpointError(ValueError):
    """A path that is not a usable checkpoint (one-line message)."""


def _manager(path: str, items: tuple[str, ...], keep: int) -> ocp.CheckpointManager:
    opts = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True, enable_async_checkpointing=False)
    return ocp.CheckpointManager(os.path.abspath(path), options=opts, item_names=items)


class RunCheckpointer:
    """Periodic full-state checkpoints plus the best policy of one seed's run."""

    def __init__(self, run_dir: str, keep: int = 3):
        self.run_dir = run_dir
        self.periodic = _manager(os.path.join(run_dir, "checkpoints"), ("state", "policy", "meta"), keep)
        self.best = _manager(os.path.join(run_dir, "best"), ("policy", "meta"), 1)

    def save(self, step: int, state: Any, policy: Any, meta: dict) -> None:
        self.periodic.save(step, args=ocp.args.Composite(
            state=ocp.args.StandardSave(_fill_empty(state)), policy=ocp.args.StandardSave(policy),
            meta=ocp.args.JsonSave(_with_version(meta))), force=True)
        self.periodic.wait_until_finished()

    def save_best(self, step: int, policy: Any, meta: dict) -> None:
        self.best.save(step, args=ocp.args.Composite(
            policy=ocp.args.StandardSave(policy), meta=ocp.args.JsonSave(_with_version(meta))), force=True)
        self.best.wait_until_finished()

    def latest_step(self) -> int | None:
        return self.periodic.latest_step()

    def restore_state(self, template: Any) -> tuple[Any, dict]:
        """Newest full ``TrainState`` (``template`` from ``jax.eval_shape``) and its meta."""
        step = self.periodic.latest_step()
        if step is None:
            raise CheckpointError(f"no checkpoint to resume in {self.periodic.directory}")
        out = self.periodic.restore(step, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(_fill_empty(template)), meta=ocp.args.JsonRestore()))
        state = jax.tree.map(lambda t, x: jnp.zeros(t.shape, t.dtype) if t.size == 0 else x, template, out["state"])
        return state, dict(out["meta"])

    def close(self) -> None:
        self.periodic.close()
        self.best.close()


def _fill_empty(tree: Any) -> Any:
    """Orbax refuses zero-size arrays (e.g. ``mjx.Data.act`` of tasks without actuator
    state): store each as a one-element placeholder; ``restore_state`` rebuilds it."""
    def fill(x):
        if x.size:
            return x
        if isinstance(x, jax.ShapeDtypeStruct):
            return jax.ShapeDtypeStruct((1,), x.dtype)
        return jnp.zeros((1,), x.dtype)

    return jax.tree.map(fill, tree)


def _with_version(meta: dict) -> dict:
    return {**meta, "format": FORMAT, "fpmd_mjx_version": fpmd_mjx.__version__}


def read_meta(step_dir: str) -> dict:
    """The ``meta`` JSON of one checkpoint step directory."""
    import json

    meta_dir = os.path.join(step_dir, "meta")
    for name in ("metadata", "meta.json"):
        p = os.path.join(meta_dir, name)
        if os.path.isfile(p):
            with open(p) as f:
                return json.load(f)
    raise CheckpointError(f"{step_dir!r} is not a fpmd_mjx checkpoint (no meta item)")


def _is_step_dir(path: str) -> bool:
    return os.path.isdir(os.path.join(path, "meta")) and os.path.isdir(os.path.join(path, "policy"))


def _latest_in(root: str) -> str | None:
    steps = [d for d in os.listdir(root) if d.isdigit() and _is_step_dir(os.path.join(root, d))]
    return os.path.join(root, max(steps, key=int)) if steps else None


def find_checkpoints(path: str) -> list[str]:
    """Checkpoint step directories under ``path``.

    ``path`` may be a step directory, a manager root (``checkpoints/`` or ``best/``:
    newest step), a run directory (its newest periodic checkpoint and its best), or a
    directory of runs (e.g. ``seed_0/``, ``seed_1/``: each run's checkpoints).
    """
    if not os.path.exists(path):
        raise CheckpointError(f"checkpoint path {path!r} does not exist")
    if not os.path.isdir(path):
        raise CheckpointError(f"checkpoint path {path!r} is not a directory")
    if _is_step_dir(path):
        return [path]
    latest = _latest_in(path)
    if latest:
        return [latest]
    found = []
    for sub in ("checkpoints", "best"):
        if os.path.isdir(os.path.join(path, sub)) and (latest := _latest_in(os.path.join(path, sub))):
            found.append(latest)
    if not found:
        for d in sorted(os.listdir(path)):
            if os.path.isdir(os.path.join(path, d)):
                try:
                    found += find_checkpoints(os.path.join(path, d))
                except CheckpointError:
                    pass
    if not found:
        raise CheckpointError(f"{path!r} holds no fpmd_mjx checkpoint (expected checkpoints/<step>/ or best/<step>/)")
    return found


def load_policy(step_dir: str):
    """Rebuild the evaluation policy of a checkpoint from its directory alone.

    Returns ``(cfg, trainer, params, meta)``; ``trainer.agent.sample(params, obs, key, nfe)``
    acts and ``trainer.evaluate`` runs MJX episodes. Raises ``CheckpointError`` for a
    directory that is not a checkpoint or comes from an incompatible version.
    """
    from fpmd_mjx.config import ConfigError, from_dict
    from fpmd_mjx.train import make_train

    meta = read_meta(step_dir)
    if meta.get("format") != FORMAT:
        raise CheckpointError(
            f"checkpoint {step_dir!r} has format {meta.get('format')!r} (written by fpmd_mjx "
            f"{meta.get('fpmd_mjx_version', '?')}); this fpmd_mjx {fpmd_mjx.__version__} reads format {FORMAT}")
    try:
        cfg = from_dict(meta["config"])
    except (KeyError, ConfigError) as e:
        raise CheckpointError(f"checkpoint {step_dir!r} has an unusable config: {e}") from None
    trainer = make_train(cfg)
    template = jax.eval_shape(lambda k: trainer.agent.policy_params(trainer.agent.init(k)), jax.random.PRNGKey(0))
    params = ocp.StandardCheckpointer().restore(os.path.join(os.path.abspath(step_dir), "policy"), template)
    return cfg, trainer, params, meta
