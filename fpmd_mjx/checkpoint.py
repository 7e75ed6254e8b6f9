"""Orbax checkpoints: reading and writing run directories (rebuilding a policy from one: :mod:`fpmd_mjx.rebuild`).

Layout of one run directory (one seed)::

    RUN/checkpoints/<env_step>/{state,policy,critic,meta}   every --checkpoint-every steps (last = newest)
    RUN/best/<env_step>/{policy,critic,meta}                best MJX evaluation return so far

``state`` is the whole ``TrainState`` (for ``--resume``), ``policy`` the evaluation
parameters, ``critic`` the online critic's (FPMD/DPMD: for best-of-N evaluation;
absent for SAC and in older checkpoints; ``state`` is absent in the runs of a
multi-process sweep, whose training state is one :class:`GroupCheckpointer`), ``meta`` a JSON dict (task, algo, config, step, eval returns, package
version, ``format``). Saves are synchronous and orbax writes each step to a
temporary directory renamed on completion, so a crash or Ctrl-C mid-save leaves
the previous checkpoint loadable.
"""
from __future__ import annotations

import os
import sys
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp

import fpmd_mjx

FORMAT = 1  # bump when the saved pytrees change incompatibly


class CheckpointError(ValueError):
    """A path that is not a usable checkpoint (one-line message)."""


class DamagedCheckpoint(CheckpointError):
    """A checkpoint whose files cannot be read back (truncated, corrupted)."""


def _manager(path: str, items: tuple[str, ...], keep: int) -> ocp.CheckpointManager:
    # one process writes a run's checkpoints (in a multi-process job, process 0): no
    # barriers with the other processes, and it is the primary host of every item
    me = jax.process_index()
    alone = ocp.options.MultiprocessingOptions(primary_host=me, active_processes={me})
    handlers = {name: ocp.JsonCheckpointHandler(multiprocessing_options=alone) if name == "meta"
                else ocp.StandardCheckpointHandler(multiprocessing_options=alone) for name in items}
    os.makedirs(path, exist_ok=True)
    opts = ocp.CheckpointManagerOptions(max_to_keep=keep, create=False, enable_async_checkpointing=False,
                                        multiprocessing_options=alone)
    return ocp.CheckpointManager(os.path.abspath(path), options=opts, item_handlers=handlers)


def _replace(mgr: ocp.CheckpointManager, step: int, args: ocp.args.Composite) -> None:
    """Save ``step``, replacing a checkpoint of the same step: a resumed run trains again
    the steps after the state it resumed from, and what the stopped run saved there (a
    best policy, or one run's state ahead of the others) is superseded."""
    if step in mgr.all_steps():
        mgr.delete(step)
    mgr.save(step, args=args, force=True)
    mgr.wait_until_finished()


class RunCheckpointer:
    """Periodic full-state checkpoints plus the best policy of one seed's run."""

    def __init__(self, run_dir: str, keep: int = 3):
        self.run_dir = run_dir
        self.periodic = _manager(os.path.join(run_dir, "checkpoints"), ("state", "policy", "critic", "meta"), keep)
        self.best = _manager(os.path.join(run_dir, "best"), ("policy", "critic", "meta"), 1)

    def save(self, step: int, state: Any, policy: Any, meta: dict, critic: Any = None) -> None:
        """``state=None`` saves the policy, critic and meta only (the runs of a
        multi-process sweep, whose state is in the group's checkpoint)."""
        items = {} if state is None else {"state": ocp.args.StandardSave(_fill_empty(state))}
        _replace(self.periodic, step, ocp.args.Composite(
            **items, policy=ocp.args.StandardSave(policy),
            meta=ocp.args.JsonSave(_with_version(meta)), **_critic_arg(critic)))

    def save_best(self, step: int, policy: Any, meta: dict, critic: Any = None) -> None:
        _replace(self.best, step, ocp.args.Composite(
            policy=ocp.args.StandardSave(policy), meta=ocp.args.JsonSave(_with_version(meta)),
            **_critic_arg(critic)))

    def latest_step(self) -> int | None:
        return self.periodic.latest_step()

    def restore_state(self, template: Any, at_most: int | None = None) -> tuple[Any, dict]:
        """Newest intact full ``TrainState`` (``template`` from ``jax.eval_shape``) and
        its meta, of a step ``<= at_most`` when given (runs of one program resume
        from the step they all reached).  Newer checkpoints that fail to restore while an older one
        restores are damaged (truncated or unreadable files): each gets a one-line
        warning on stderr and is renamed ``<step>.damaged`` (kept for inspection, out
        of the way of the resumed run's own saves).  When none restores, nothing is
        renamed and CheckpointError is raised."""
        steps = sorted((s for s in self.periodic.all_steps() if at_most is None or s <= at_most), reverse=True)
        if not steps:
            raise CheckpointError(f"no checkpoint to resume in {self.periodic.directory}")
        failed = []
        for step in steps:
            try:
                out = self.periodic.restore(step, args=ocp.args.Composite(
                    state=ocp.args.StandardRestore(_fill_empty(_on_this_device(template))),
                    meta=ocp.args.JsonRestore()))
            except Exception as e:  # noqa: BLE001 - orbax/tensorstore raise many types
                failed.append((os.path.join(str(self.periodic.directory), str(step)), e))
                continue
            for path, err in failed:
                warn_damaged(path, err, moved_to=_set_aside(path))
            if failed:
                self.periodic.reload()
            state = jax.tree.map(lambda t, x: jnp.zeros(t.shape, t.dtype) if t.size == 0 else x,
                                 template, out["state"])
            return state, dict(out["meta"])
        raise CheckpointError(f"no intact checkpoint to resume in {self.periodic.directory} "
                              f"(all {len(steps)} damaged)")

    def close(self) -> None:
        self.periodic.close()
        self.best.close()


class GroupCheckpointer:
    """The training state of a multi-process program: one orbax checkpoint of the
    global ``TrainState`` (run axis sharded over the devices of every process), which
    every process saves together, each writing only the shards it holds.

    Layout: ``GROUP/group_state/<env_step>/{state,meta}``; ``meta`` lists every run's
    best and latest evaluation return. It restores on any number of processes and
    devices: orbax reshards to the new mesh, and a run axis padded to a different
    device count is truncated or padded with zeros (padding rows are never written)."""

    DIR = "group_state"

    def __init__(self, group_dir: str, keep: int = 3):
        self.directory = os.path.join(os.path.abspath(group_dir), self.DIR)
        opts = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True, enable_async_checkpointing=False)
        self.mgr = ocp.CheckpointManager(self.directory, options=opts, item_handlers={
            "state": ocp.PyTreeCheckpointHandler(), "meta": ocp.JsonCheckpointHandler()})

    @staticmethod
    def steps(group_dir: str) -> list[int]:
        """Env steps of the group checkpoints in ``group_dir``, newest first (no orbax involved)."""
        return _step_numbers(os.path.join(group_dir, GroupCheckpointer.DIR), ("meta",))

    def save(self, step: int, state: Any, meta: dict) -> None:
        """Collective: every process calls it with the same ``step`` and ``meta``."""
        self.mgr.save(step, args=ocp.args.Composite(state=ocp.args.PyTreeSave(_fill_empty_global(state)),
                                                    meta=ocp.args.JsonSave(_with_version(meta))), force=True)
        self.mgr.wait_until_finished()

    def restore(self, step: int, template: Any) -> tuple[Any, dict]:
        """The state of ``step`` shaped and sharded as ``template`` (``ShapeDtypeStruct``
        leaves with shardings; collective) and its meta."""
        filled = _fill_empty_global(template)
        args = jax.tree.map(lambda t: ocp.ArrayRestoreArgs(sharding=t.sharding, global_shape=t.shape, strict=False),
                            filled)
        out = self.mgr.restore(step, args=ocp.args.Composite(
            state=ocp.args.PyTreeRestore(item=filled, restore_args=args), meta=ocp.args.JsonRestore()))
        state = jax.tree.map(lambda t, x: _zeros_like_global(t) if t.size == 0 else x, template, out["state"])
        return state, dict(out["meta"])

    def close(self) -> None:
        self.mgr.close()


def _zeros_like_global(t) -> jax.Array:
    """Zeros shaped and sharded like ``t`` (an array or ``ShapeDtypeStruct``) in any process."""
    zeros = np.zeros(t.shape, t.dtype)
    return jax.make_array_from_callback(t.shape, t.sharding, lambda idx: zeros[idx])


def _fill_empty_global(tree: Any) -> Any:
    """:func:`_fill_empty` for arrays with a leading run axis sharded over several
    processes: each zero-size leaf becomes a ``(runs,)`` placeholder with the same sharding."""
    def fill(x):
        if x.size:
            return x
        sharding = x.sharding
        if isinstance(sharding, jax.sharding.NamedSharding):
            sharding = jax.sharding.NamedSharding(sharding.mesh, jax.sharding.PartitionSpec(*sharding.spec[:1]))
        t = jax.ShapeDtypeStruct(x.shape[:1], x.dtype, sharding=sharding)
        return t if isinstance(x, jax.ShapeDtypeStruct) else _zeros_like_global(t)

    return jax.tree.map(fill, tree)


def _on_this_device(template: Any) -> Any:
    """``ShapeDtypeStruct`` leaves placed on this process's first device: a run saved
    from one device of a sweep sharded over several (device 3, say) restores on a
    machine with fewer devices, instead of orbax asking for the saved topology."""
    device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    return jax.tree.map(lambda t: jax.ShapeDtypeStruct(t.shape, t.dtype, sharding=device)
                        if isinstance(t, jax.ShapeDtypeStruct) and t.sharding is None else t, template)


def _critic_arg(critic) -> dict:
    """The optional ``critic`` item (online critic parameters, for best-of-N evaluation)."""
    return {} if critic is None else {"critic": ocp.args.StandardSave(critic)}


def restore_item(step_dir: str, item: str, select, agent) -> Any:
    """Restore ``<step_dir>/<item>`` shaped as ``select(agent.init(key))``;
    DamagedCheckpoint when its files cannot be read back."""
    template = _on_this_device(jax.eval_shape(lambda k: select(agent.init(k)), jax.random.PRNGKey(0)))
    try:
        with ocp.StandardCheckpointer() as ckptr:
            return ckptr.restore(os.path.join(os.path.abspath(step_dir), item), template)
    except Exception as e:  # noqa: BLE001 - orbax/tensorstore raise many types
        raise DamagedCheckpoint(f"checkpoint {step_dir!r} is damaged: {type(e).__name__}") from e


def warn_damaged(step_dir: str, err: Exception, moved_to: str | None = None) -> None:
    """One line on stderr naming a damaged checkpoint (nothing is deleted)."""
    reason = (str(err).strip().splitlines() or [type(err).__name__])[0][:120]
    where = f"; kept as {moved_to}" if moved_to else ""
    print(f"warning: skipping damaged checkpoint {step_dir} ({type(err).__name__}: {reason}){where}",
          file=sys.stderr)


def _set_aside(step_dir: str) -> str:
    """Rename a damaged step directory to ``<step>.damaged[.k]``; returns the new path."""
    target, k = f"{step_dir}.damaged", 1
    while os.path.exists(target):
        target, k = f"{step_dir}.damaged.{k}", k + 1
    os.rename(step_dir, target)
    return target


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
                try:
                    return json.load(f)
                except ValueError as e:
                    raise DamagedCheckpoint(f"checkpoint {step_dir!r} is damaged: unreadable meta") from e
    raise CheckpointError(f"{step_dir!r} is not a fpmd_mjx checkpoint (no meta item)")


STEP_ITEMS = ("meta", "policy")  # what every checkpoint step directory holds


def _holds(path: str, items: tuple[str, ...] = STEP_ITEMS) -> bool:
    """Whether the step directory ``path`` holds every one of ``items`` (finished saves)."""
    return all(os.path.isdir(os.path.join(path, i)) for i in items)


def step_dirs(root: str) -> list[str]:
    """Step directories of a manager root, newest first."""
    return [os.path.join(root, str(s)) for s in _step_numbers(root, STEP_ITEMS)]


def _step_numbers(root: str, items: tuple[str, ...]) -> list[int]:
    """Steps of the finished step directories under ``root`` that hold ``items``, newest first."""
    if not os.path.isdir(root):
        return []
    done = [d for d in os.listdir(root) if d.isdigit() and _holds(os.path.join(root, d), items)]
    return sorted(map(int, done), reverse=True)


def checkpoint_steps(run_dir: str) -> list[int]:
    """Env steps of ``run_dir``'s periodic checkpoints, newest first (no orbax involved)."""
    return _step_numbers(os.path.join(run_dir, "checkpoints"), STEP_ITEMS)


def state_steps(run_dir: str) -> list[int]:
    """Env steps of ``run_dir``'s periodic checkpoints that hold a full training state, newest first."""
    return _step_numbers(os.path.join(run_dir, "checkpoints"), (*STEP_ITEMS, "state"))


def _latest_in(root: str) -> str | None:
    steps = step_dirs(root)
    return steps[0] if steps else None


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
    if _holds(path):
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
