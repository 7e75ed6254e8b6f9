"""The CLI's training loop: compiled chunks of ``make_train`` between progress,
evaluation, logging and checkpoints (``scripts/train.py`` is a thin shell over ``run``).

Several seeds train in one program (``jax.vmap`` over the chunk); each seed writes
its own run directory ``OUT/seed_<k>/`` (``OUT/`` itself when there is one seed).
One seed runs unbatched (the seed axis added around the program, not vmapped), so
the agents' and the envs' ``lax.cond`` branches are skipped for real rather than
computed and discarded as under ``vmap``.
"""
from __future__ import annotations

import contextlib
import csv
import dataclasses
import functools
import json
import math
import os
import signal
import threading
import time

import jax
import jax.numpy as jnp
import numpy as np

from fpmd_mjx.agents import ALGORITHMS
from fpmd_mjx.checkpoint import GroupCheckpointer, RunCheckpointer, checkpoint_steps, state_steps
from fpmd_mjx.config import LOOP_FIELDS
from fpmd_mjx.train import make_train

LOSS_KEYS = ("critic_loss", "actor_loss", "q_mean")
# training metrics averaged over a chunk into metrics.csv / TensorBoard (when the agent has them)
CHUNK_METRICS = LOSS_KEYS + ("noise_std", "weight_ess", "weight_max_share")


class NonFiniteLoss(RuntimeError):
    """Training produced NaN/inf in a loss (message names the quantity and step)."""


@dataclasses.dataclass
class RunResult:
    env_steps: int
    eval_returns: list  # latest MJX eval return per run (NFE = agent.eval_nfe)
    best_returns: list
    run_dirs: list
    eval_nfe: int = 1
    interrupted: bool = False


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """One run of a program: its directory, seed and grid values.

    ``grid``: ``((field, value), ...)`` over :data:`fpmd_mjx.config.GRID_FIELDS`; the
    run trains ``cfg.replace(seed=seed, **dict(grid))``."""

    out: str
    seed: int
    grid: tuple = ()

    def config(self, cfg):
        return cfg.replace(seed=self.seed, **dict(self.grid))


@dataclasses.dataclass(frozen=True)
class Programs:
    """The jitted pieces of one program over a leading run axis (see :func:`programs`).

    Every function takes the runs' grid values first: ``hp`` maps each field of
    ``grid_keys`` to a ``(num_runs,)`` float32 array (``{}`` without a grid)::

        init(hp, keys (R, 2)) -> TrainState (R, ...)
        warmup(hp, state) -> state;  chunk(hp, state) -> (state, metrics (R, T))
        evaluate[nfe](hp, params, keys) -> (returns, lengths), each (R, eval_episodes)
    """

    trainer: object
    init: object
    warmup: object
    chunk: object
    evaluate: dict  # nfe -> jitted (hp, params, keys) -> (returns, lengths)
    nfes: tuple
    num_runs: int = 1
    grid_keys: tuple = ()
    mesh: object = None
    short_chunks: dict = dataclasses.field(default_factory=dict)  # n -> jitted shorter chunk

    def chunk_of(self, num_iterations: int):
        """The chunk program for ``num_iterations`` iterations (the last chunk of a
        budget that is not a whole number of chunks gets its own, compiled once)."""
        if num_iterations == self.trainer.cfg.chunk_iterations:
            return self.chunk
        if num_iterations not in self.short_chunks:
            self.short_chunks[num_iterations] = _over_runs(
                _per_run(self.trainer, lambda t: lambda s: t.train_chunk(s, num_iterations)),
                self.num_runs, self.mesh)
        return self.short_chunks[num_iterations]


def programs(cfg, num_runs: int, grid_keys: tuple = (), mesh=None) -> Programs:
    """Compiled programs for ``cfg`` over ``num_runs`` runs (each with its own values of
    ``grid_keys``; the run axis sharded over ``mesh``'s one axis when given), shared by
    every run in this process whose config differs only in ``config.LOOP_FIELDS`` and
    the grid fields (for PPO, whose learning rate anneals over the budget, not in
    ``total_steps``)."""
    defaults = type(cfg)()
    # PPO's learning rate anneals over the run's updates: its budget is part of the program
    loop_only = [f for f in LOOP_FIELDS if not (f == "total_steps" and ALGORITHMS[cfg.algo].loop == "on_policy")]
    key = dataclasses.replace(cfg, **{f: getattr(defaults, f) for f in loop_only + list(grid_keys)})
    return _programs(key, num_runs, tuple(sorted(grid_keys)), mesh)


@functools.lru_cache(maxsize=8)
def _programs(cfg, num_runs: int, grid_keys: tuple, mesh) -> Programs:
    trainer = make_train(cfg)
    agent = trainer.agent
    both = ALGORITHMS[cfg.algo].nfes == "eval_and_train"
    nfes = tuple(sorted({agent.eval_nfe, cfg.flow_steps} if both else {agent.eval_nfe}))
    over = functools.partial(_over_runs, num_runs=num_runs, mesh=mesh)
    evaluate = {n: over(_per_run(trainer, lambda t, n=n: lambda p, k: t.evaluate(p, k, n))) for n in nfes}
    return Programs(trainer=trainer, init=over(_per_run(trainer, lambda t: t.init)),
                    warmup=over(_per_run(trainer, lambda t: lambda s: _strong(t.warmup(s)[0]))),
                    chunk=over(_per_run(trainer, lambda t: t.train_chunk)), evaluate=evaluate, nfes=nfes,
                    num_runs=num_runs, grid_keys=grid_keys, mesh=mesh)


def _per_run(trainer, method):
    """``(hp, *args) -> method(trainer)(*args)`` for one run: with grid values, the
    trainer is rebuilt at trace time from the config with those values traced
    (``Config.traced``), so every number derived from them is per run."""
    def fn(hp, *args):
        t = make_train(trainer.cfg.traced(**hp)) if hp else trainer
        return method(t)(*args)
    return fn


def _over_runs(fn, num_runs: int, mesh=None):
    """``fn`` jitted over a leading run axis: ``vmap`` over the runs; with ``mesh``,
    inside a ``shard_map`` that gives each device its block of runs (the runs never
    communicate, so the program has no collectives). A block of one run is not
    vmapped: the axis is removed before and restored after ``fn`` (same signature,
    no batching, so ``lax.cond`` stays a branch rather than both sides computed)."""
    local = num_runs // (mesh.size if mesh is not None else 1)
    if local > 1:
        body = jax.vmap(fn)
    else:
        def body(*args):
            out = fn(*jax.tree.map(lambda x: x[0], args))
            return jax.tree.map(lambda x: x[None], out)
    if mesh is None:
        return jax.jit(body)
    spec = jax.sharding.PartitionSpec(mesh.axis_names[0])
    sharded = jax.shard_map(lambda args: body(*args), mesh=mesh, in_specs=(spec,), out_specs=spec,
                            check_vma=False)
    return jax.jit(lambda *args: sharded(args))


def _strong(tree):
    """Leaves without JAX's weak type (flashbax's buffer index is weakly typed), so
    a state restored from a checkpoint has the same signature and reuses the
    compiled chunk instead of tracing it again."""
    return jax.tree.map(lambda x: jax.lax.convert_element_type(x, x.dtype), tree)


def _seed_dirs(out: str, num_seeds: int) -> list[str]:
    return [out] if num_seeds == 1 else [os.path.join(out, f"seed_{k}") for k in range(num_seeds)]


class _Rows:
    """The run axis of one program: building inputs from per-row host values (placed
    over ``mesh``'s devices when given, which may span several processes) and reading
    rows back. ``local``: the rows whose shards this process holds (all of them in a
    one-process job)."""

    def __init__(self, num_rows: int, mesh=None):
        self.n = num_rows
        self.sharding = None if mesh is None else jax.sharding.NamedSharding(
            mesh, jax.sharding.PartitionSpec(mesh.axis_names[0]))
        if self.sharding is None:
            self.local = list(range(num_rows))
        else:
            held = self.sharding.addressable_devices_indices_map((num_rows,)).values()
            self.local = sorted({k for (rows,) in held for k in range(*rows.indices(num_rows))})

    def put(self, rows: list):
        """A tree with a leading run axis from ``rows`` (one host tree per row; rows
        this process does not hold may be None)."""
        if self.sharding is None:
            return jax.tree.map(lambda *xs: jnp.asarray(np.stack([np.asarray(x) for x in xs])), *rows)
        ref = next(r for r in rows if r is not None)
        by_row = [None if r is None else jax.tree.leaves(r) for r in rows]

        def leaf(i, x):
            def block(index):  # this device's rows of leaf i
                return np.stack([np.asarray(by_row[k][i]) for k in range(*index[0].indices(self.n))])
            return jax.make_array_from_callback((self.n, *np.shape(x)), self.sharding, block)

        leaves = [leaf(i, x) for i, x in enumerate(jax.tree.leaves(ref))]
        return jax.tree.unflatten(jax.tree.structure(ref), leaves)

    def get(self, tree) -> dict:
        """``{row: host tree}`` for every row, on every process (a gather across
        processes in a multi-process job: meant for small trees)."""
        if jax.process_count() > 1:
            from jax.experimental import multihost_utils

            host = multihost_utils.process_allgather(tree, tiled=True)
        else:
            host = jax.device_get(tree)
        return {k: jax.tree.map(lambda x, k=k: x[k], host) for k in range(self.n)}

    @staticmethod
    def first(x) -> np.ndarray:
        """The first row this process holds of a run-axis array."""
        return np.asarray(x.addressable_shards[0].data)[0]

    @staticmethod
    def row(tree, k: int):
        """Row ``k`` of a run-axis tree, left on its device(s) (for checkpoint saves)."""
        return jax.tree.map(lambda x: x[k], tree)


def _first_nonfinite(metrics: dict, start_iter: int, num_envs: int, stride: int = 1):
    """(name, env_step) of the first non-finite loss in a chunk's metrics, each (iters,) per run, or None
    (each metric row covers ``stride`` iterations: PPO's come per update of ``ppo_unroll_length``)."""
    for name in LOSS_KEYS:
        rows = [np.asarray(m[name]).reshape(-1) for m in metrics.values() if name in m]
        if not rows:
            continue
        bad = ~np.isfinite(np.stack(rows))
        if bad.any():
            return name, (start_iter + (int(np.argmax(bad.any(axis=0))) + 1) * stride) * num_envs
    return None


class _Logger:
    """CSV + TensorBoard per seed."""

    FIELDS = ("env_steps", "updates", "wall_s", "steps_per_s", "eval_return", "eval_return_nfe_k",
              "train_episode_return") + CHUNK_METRICS

    def __init__(self, run_dir: str, resume: bool):
        os.makedirs(run_dir, exist_ok=True)
        path = os.path.join(run_dir, "metrics.csv")
        new = not (resume and os.path.exists(path))
        self.f = open(path, "w" if new else "a", newline="")
        self.w = csv.DictWriter(self.f, fieldnames=self.FIELDS)
        if new:
            self.w.writeheader()
        try:
            from tensorboardX import SummaryWriter
            self.tb = SummaryWriter(os.path.join(run_dir, "tb"))
        except ImportError:  # tensorboardX is a dependency; stay usable without it
            self.tb = None

    def log(self, row: dict) -> None:
        self.w.writerow({k: row.get(k, "") for k in self.FIELDS})
        self.f.flush()
        if self.tb:
            for k, v in row.items():
                if k != "env_steps" and isinstance(v, (int, float)) and math.isfinite(v):
                    self.tb.add_scalar(k, v, row["env_steps"])
            self.tb.flush()

    def close(self):
        self.f.close()
        if self.tb:
            self.tb.close()


def run(cfg, out: str, num_seeds: int = 1, resume: bool = False, progress: bool = True) -> RunResult:
    """Train ``cfg`` for ``cfg.total_steps`` env steps, ``num_seeds`` seeds in one program.

    Seeds are ``cfg.seed .. cfg.seed + num_seeds - 1``. Raises ``NonFiniteLoss`` (after
    keeping the last good checkpoint) when a loss turns NaN/inf.
    """
    os.makedirs(out, exist_ok=True)
    runs = [RunSpec(d, cfg.seed + k) for k, d in enumerate(_seed_dirs(out, num_seeds))]
    return run_group(cfg, runs, resume=resume, progress=progress)


def run_group(cfg, runs: list, resume: bool = False, progress: bool = True, mesh=None, group_dir: str | None = None,
              sync=None) -> RunResult:
    """Train the ``runs`` (:class:`RunSpec`; the same config but for seeds and grid
    values) as one compiled program, each writing its own run directory.

    With ``mesh`` (a one-axis ``jax.sharding.Mesh``) the run axis is sharded over its
    devices; the runs are padded to a multiple of ``mesh.size`` with copies that are
    computed and never written.

    Several processes (``jax.distributed``; ``mesh`` spans the devices of all of them):
    each process logs the runs it holds; the training state is one collective
    :class:`~fpmd_mjx.checkpoint.GroupCheckpointer` in ``group_dir`` (each process writes
    its own shards), and process 0 writes every run's policy checkpoints (small trees
    gathered from the others), since orbax writes process-local arrays only there.
    ``--resume`` takes the newest of the group checkpoint and the step every run's own
    state checkpoint reached. ``sync()``, when given, is called at every chunk boundary
    (the liveness check of :class:`fpmd_mjx.distributed.Distributed`; it raises to stop).
    """
    grid_keys = tuple(sorted({k for r in runs for k, _ in r.grid}))
    for r in runs:
        r.config(cfg)  # validates each run's grid values (one-line ConfigError)
        missing = set(grid_keys) - dict(r.grid).keys()
        if missing:
            raise ValueError(f"run {r.out!r} has no value for grid fields {sorted(missing)}")
    if mesh is not None and cfg.devices > 1:
        raise ValueError(f"devices={cfg.devices} (one run over several devices) cannot be combined with "
                         f"sharding runs over a mesh; use one or the other")
    multi = jax.process_count() > 1
    if multi and (group_dir is None or mesh is None or
                  {d.process_index for d in mesh.devices.flat} != set(range(jax.process_count()))):
        raise ValueError("a multi-process program needs a mesh over the devices of every process and a group_dir")
    width = mesh.size if mesh is not None else 1
    padded = list(runs) + [runs[0]] * (-len(runs) % width)
    progs = programs(cfg, len(padded), grid_keys, mesh)
    rows = _Rows(len(padded), mesh)
    every = range(len(runs))  # the rows that are runs (the rest is padding)
    mine = [k for k in rows.local if k < len(runs)]  # the runs this process holds
    writer = jax.process_index() == 0  # writes the runs' checkpoints (all of them: see above)
    trainer, agent = progs.trainer, progs.trainer.agent
    stride = cfg.ppo_unroll_length if ALGORITHMS[cfg.algo].loop == "on_policy" else 1  # iterations per metric row
    evaluate, nfes = progs.evaluate, progs.nfes
    hp = rows.put([{f: np.float32(dict(r.grid)[f]) for f in grid_keys} for r in padded]) if grid_keys else {}
    keys = rows.put([np.asarray(jax.random.PRNGKey(r.seed)) for r in padded])

    ckpts = {k: RunCheckpointer(runs[k].out, cfg.keep_checkpoints) for k in every} if writer else {}
    group_ckpt = GroupCheckpointer(group_dir, cfg.keep_checkpoints) if multi else None
    loggers = {k: _Logger(runs[k].out, resume) for k in mine}
    best = {k: -math.inf for k in every}
    latest = {k: float("nan") for k in every}
    if resume:
        state, best = _restore(trainer, runs, rows, group_dir, ckpts, cfg.keep_checkpoints)
    else:
        state = progs.warmup(hp, progs.init(hp, keys))
    steps = lambda: int(rows.first(state.iteration)) * cfg.num_envs

    def evaluate_all():
        params = trainer.eval_params(state.agent)
        ekeys = rows.put([np.asarray(jax.random.fold_in(jax.random.PRNGKey(10_000 + r.seed), steps()))
                          for r in padded])
        return {n: {k: float(np.mean(v)) for k, v in rows.get(evaluate[n](hp, params, ekeys)[0]).items()}
                for n in nfes}

    def save_all(step, evals, periodic):
        improved = {k for k in every if evals and latest[k] >= best[k]}
        for k in improved:  # before any save: a resumed run compares against the true best
            best[k] = latest[k]
        if multi and periodic:
            group_ckpt.save(step, state, {"env_steps": step, "best_eval_return": [best[k] for k in every],
                                          "eval_return": [latest[k] for k in every]})
        if not (periodic or improved):
            return
        pol, critic = agent.policy_params(state.agent), agent.critic_params
        critic = critic(state.agent) if critic else None
        if multi:  # small trees, gathered for process 0
            pol, critic = rows.get(pol), (rows.get(critic) if critic is not None else None)
            row = lambda tree, k: None if tree is None else tree[k]
        else:
            row = lambda tree, k: None if tree is None else _Rows.row(tree, k)
        for k in every if writer else ():
            r = runs[k]
            meta = {"env": cfg.env, "gym_id": trainer.env.gym_id, "algo": cfg.algo,
                    "config": r.config(cfg).to_dict(), "num_seeds": len(runs), "seed": r.seed, "env_steps": step,
                    "updates": cfg.updates_at(step), "eval_rule": cfg.eval_rule, "eval_return": latest[k],
                    "best_eval_return": best[k], "eval_nfe": agent.eval_nfe,
                    "eval_returns_by_nfe": {str(n): evals[n][k] for n in evals} if evals else {}}
            if periodic:
                ckpts[k].save(step, None if multi else _Rows.row(state, k), row(pol, k), meta, row(critic, k))
            if k in improved:
                ckpts[k].save_best(step, row(pol, k), meta, row(critic, k))

    bar = _progress_bar(cfg.total_steps, steps(), progress)
    next_eval = (steps() // cfg.eval_every + 1) * cfg.eval_every if resume else steps()
    next_ckpt = (steps() // cfg.checkpoint_every + 1) * cfg.checkpoint_every if resume else steps()
    interrupted = False
    first_dir = runs[0].out
    try:
        while True:
            if sync is not None:
                sync()
            step = steps()
            evals = None
            if step >= next_eval or step >= cfg.total_steps:
                evals = evaluate_all()
                latest = {k: evals[agent.eval_nfe][k] for k in every}
                next_eval = step + cfg.eval_every
                _log_eval(loggers, step, cfg.updates_at(step), evals, agent.eval_nfe)
            if evals is not None or step >= next_ckpt or step >= cfg.total_steps:
                periodic = step >= next_ckpt or step >= cfg.total_steps
                with _interrupt_after():  # a Ctrl-C during a save stops after it, never inside it
                    save_all(step, evals, periodic)
                if periodic:
                    next_ckpt = step + cfg.checkpoint_every
            if step >= cfg.total_steps:
                break
            start_iter = step // cfg.num_envs
            todo = min(cfg.chunk_iterations, cfg.total_iterations - start_iter)  # exact budget
            t_chunk = time.time()  # the rate counts training only, not evaluation or saving
            new_state, m = progs.chunk_of(todo)(hp, state)
            m = {k: v for k, v in rows.get(m).items() if k < len(runs)}
            bad = _first_nonfinite(m, start_iter, cfg.num_envs, stride)
            if bad:
                raise NonFiniteLoss(f"non-finite {bad[0]} at env step {bad[1]}; kept the last good checkpoint "
                                    f"in {os.path.join(first_dir, 'checkpoints')}")
            state = new_state
            rate = (steps() - step) / max(time.time() - t_chunk, 1e-9)
            _log_chunk(loggers, steps(), cfg.updates_at(steps()), rate, m)
            bar.update(steps() - step)
            bar.set_postfix(eval=f"{np.mean(list(latest.values())):.1f}", best=f"{np.mean(list(best.values())):.1f}")
    except KeyboardInterrupt:
        interrupted = True
        last = max(checkpoint_steps(first_dir), default=None)
        print(f"\ninterrupted at env step {steps()}; last checkpoint: "
              f"{last} in {os.path.join(first_dir, 'checkpoints')} (continue with --resume)")
    finally:
        bar.close()
        for c in ckpts.values():
            c.close()
        if group_ckpt is not None:
            group_ckpt.close()
        for lg in loggers.values():
            lg.close()
    return RunResult(env_steps=steps(), eval_returns=[latest[k] for k in every],
                     best_returns=[best[k] for k in every],
                     run_dirs=[r.out for r in runs], eval_nfe=agent.eval_nfe, interrupted=interrupted)


def _restore(trainer, runs, rows, group_dir, ckpts, keep):
    """(state over the run axis, best returns per run) to resume from: the newest of the
    group checkpoint (multi-process jobs) and the step every run's own state reached."""
    per_run = jax.eval_shape(trainer.init, jax.random.PRNGKey(0))
    # the step every run reached (a stop between two runs' saves leaves some one checkpoint ahead)
    common = min((max(state_steps(r.out), default=0) for r in runs), default=0)
    group_steps = GroupCheckpointer.steps(group_dir) if group_dir else []
    if group_steps and group_steps[0] >= common:
        sharding = rows.sharding or jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
        template = jax.tree.map(lambda t: jax.ShapeDtypeStruct((rows.n, *t.shape), t.dtype, sharding=sharding),
                                per_run)
        gc = GroupCheckpointer(group_dir, keep)
        try:
            state, meta = gc.restore(group_steps[0], template)
        finally:
            gc.close()
        return state, dict(enumerate(meta["best_eval_return"][:len(runs)]))
    # each process restores the runs it holds (a one-process sweep continued on several
    # hosts: as numpy, since orbax restores a jax.Array held by one process only there)
    held = [k for k in rows.local if k < len(runs)]
    if jax.process_count() > 1:
        per_run = jax.tree.map(lambda t: np.zeros(t.shape, t.dtype), per_run)
    parts = {}
    for k in held:
        ckpt = ckpts.get(k) or RunCheckpointer(runs[k].out, keep)
        parts[k] = ckpt.restore_state(per_run, at_most=common)
        if k not in ckpts:
            ckpt.close()
    # padding rows copy a run this process restored (any state: they are never written)
    fill = parts[held[0]][0] if held else per_run
    state = rows.put([parts[k][0] if k in parts else (fill if k in rows.local else None) for k in range(rows.n)])
    bests = [parts[k][1].get("best_eval_return", -math.inf) if k in parts else -math.inf for k in range(len(runs))]
    if jax.process_count() > 1:  # every process tracks every run's best
        from jax.experimental import multihost_utils

        bests = np.max(multihost_utils.process_allgather(np.asarray(bests, np.float64)), axis=0).tolist()
    return state, dict(enumerate(bests))


@contextlib.contextmanager
def _interrupt_after():
    """Hold SIGINT for the duration of the block and raise KeyboardInterrupt after it.

    orbax runs its saves through asyncio, which (with Python's default SIGINT handler
    in place) turns a Ctrl-C into a cancelled task that can be swallowed: the run
    would go on.  With this handler asyncio leaves SIGINT alone, the save completes,
    and the interrupt is raised once the checkpoint is whole.  Main thread only."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = []
    previous = signal.signal(signal.SIGINT, lambda *_: received.append(True))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt


def _progress_bar(total: int, initial: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, unit="step", unit_scale=True, disable=not enabled,
                dynamic_ncols=True, desc="env steps")


def _log_chunk(loggers: dict, step, updates, rate, m):
    for k, lg in loggers.items():
        row = {"env_steps": step, "updates": updates, "wall_s": time.time(), "steps_per_s": rate}
        for name in CHUNK_METRICS:
            if name in m[k]:
                row[name] = float(np.mean(m[k][name]))
        ret = np.asarray(m[k]["episode_return"])
        if np.isfinite(ret).any():
            row["train_episode_return"] = float(np.nanmean(ret))
        lg.log(row)


def _log_eval(loggers: dict, step, updates, evals, eval_nfe):
    for k, lg in loggers.items():
        row = {"env_steps": step, "updates": updates, "wall_s": time.time(), "eval_return": float(evals[eval_nfe][k])}
        other = [n for n in evals if n != eval_nfe]
        if other:
            row["eval_return_nfe_k"] = float(evals[other[0]][k])
        lg.log(row)


def save_run_info(out: str, cfg, num_seeds: int) -> None:
    """``OUT/run.json``: the config and seeds, for humans and for --resume checks."""
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "run.json"), "w") as f:
        json.dump({"config": cfg.to_dict(), "num_seeds": num_seeds}, f, indent=2)
