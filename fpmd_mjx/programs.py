"""The compiled programs of one training job over a leading run axis.

Several runs (seeds, grid points) of one config train as one program: ``jax.vmap``
over the run axis, or, over a device mesh, a ``shard_map`` that gives each device
its block of runs. :func:`programs` compiles them once per process for every config
that differs only in loop fields (``config.LOOP_FIELDS``: budget, evaluation and
checkpoint intervals), and :class:`RunRows` moves per-run host values onto the run
axis and back. :mod:`fpmd_mjx.runner` drives these programs between evaluations,
logs and checkpoints.
"""
from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils

from fpmd_mjx.agents import ALGORITHMS
from fpmd_mjx.config import LOOP_FIELDS
from fpmd_mjx.train import make_train
from fpmd_mjx.trees import strong


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
            self.short_chunks[num_iterations] = over_runs(
                per_run(self.trainer, lambda t: lambda s: t.train_chunk(s, num_iterations)),
                self.num_runs, self.mesh)
        return self.short_chunks[num_iterations]


def programs(cfg, num_runs: int, grid_keys: tuple = (), mesh=None, env=None) -> Programs:
    """Compiled programs for ``cfg`` over ``num_runs`` runs (each with its own values of
    ``grid_keys``; the run axis sharded over ``mesh``'s one axis when given), shared by
    every run in this process whose config differs only in ``config.LOOP_FIELDS`` and
    the grid fields (for PPO, whose learning rate anneals over the budget, not in
    ``total_steps``). ``env``: an environment of your own (see ``train.make_train``)."""
    defaults = type(cfg)()
    # PPO's learning rate anneals over the run's updates: its budget is part of the program
    loop_only = [f for f in LOOP_FIELDS if not (f == "total_steps" and ALGORITHMS[cfg.algo].loop == "on_policy")]
    key = dataclasses.replace(cfg, **{f: getattr(defaults, f) for f in loop_only + list(grid_keys)})
    return compiled(key, num_runs, tuple(sorted(grid_keys)), mesh, env)


def release() -> None:
    """Drop every compiled program this process holds (a long study that trains many
    configs one after another would otherwise run out of JIT code memory)."""
    compiled.cache_clear()


@functools.lru_cache(maxsize=8)
def compiled(cfg, num_runs: int, grid_keys: tuple, mesh, env=None) -> Programs:
    trainer = make_train(cfg, env)
    agent = trainer.agent
    both = ALGORITHMS[cfg.algo].nfes == "eval_and_train"
    nfes = tuple(sorted({agent.eval_nfe, cfg.flow_steps} if both else {agent.eval_nfe}))
    over = functools.partial(over_runs, num_runs=num_runs, mesh=mesh)
    evaluate = {n: over(per_run(trainer, lambda t, n=n: lambda p, k: t.evaluate(p, k, n))) for n in nfes}
    return Programs(trainer=trainer, init=over(per_run(trainer, lambda t: t.init)),
                    warmup=over(per_run(trainer, lambda t: lambda s: strong(t.warmup(s)[0]))),
                    chunk=over(per_run(trainer, lambda t: t.train_chunk)), evaluate=evaluate, nfes=nfes,
                    num_runs=num_runs, grid_keys=grid_keys, mesh=mesh)


def per_run(trainer, method):
    """``(hp, *args) -> method(trainer)(*args)`` for one run: with grid values, the
    trainer is rebuilt at trace time from the config with those values traced
    (``Config.traced``), so every number derived from them is per run."""
    def fn(hp, *args):
        t = make_train(trainer.cfg.traced(**hp), trainer.env) if hp else trainer
        return method(t)(*args)
    return fn


def over_runs(fn, num_runs: int, mesh=None):
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


def shard_rows(index: tuple, num_rows: int) -> range:
    """The rows of a run axis of ``num_rows`` that a shard with ``index`` (its tuple of
    slices, one per array axis; the run axis first) holds."""
    return range(*index[0].indices(num_rows))


class RunRows:
    """The run axis of one program: building inputs from per-row host values (placed
    over ``mesh``'s devices when given, which may span several processes) and reading
    rows back. ``local``: the rows whose shards this process holds (all of them in a
    one-process job).

    ``barrier``: called by every process before each gather across processes (for
    example :meth:`fpmd_mjx.distributed.Distributed.sync`, which waits for a peer as
    long as its heartbeat goes on). Processes reach a gather apart by as long as they
    compile and compute apart, and the runtime's CPU collectives give up on a peer
    after 30 s (Gloo's setup) or 40 s (an all-reduce): on a busy machine a gather
    without a barrier fails although every process is alive. (Orbax's collective
    checkpoints synchronise with such collectives too: call :meth:`arrive` first.)"""

    def __init__(self, num_rows: int, mesh=None, barrier=None):
        self.n = num_rows
        self.barrier = barrier
        self.sharding = None if mesh is None else jax.sharding.NamedSharding(
            mesh, jax.sharding.PartitionSpec(mesh.axis_names[0]))
        if self.sharding is None:
            self.local = list(range(num_rows))
        else:
            held = self.sharding.addressable_devices_indices_map((num_rows,)).values()
            self.local = sorted({k for index in held for k in shard_rows(index, num_rows)})

    def put(self, rows: list):
        """A tree with a leading run axis from ``rows`` (one host tree per row; rows
        this process does not hold may be None)."""
        if self.sharding is None:
            return jax.tree.map(lambda *xs: jnp.asarray(np.stack([np.asarray(x) for x in xs])), *rows)
        ref = next(r for r in rows if r is not None)
        by_row = [None if r is None else jax.tree.leaves(r) for r in rows]

        def leaf(i, x):
            def block(index):  # this device's rows of leaf i
                return np.stack([np.asarray(by_row[k][i]) for k in shard_rows(index, self.n)])
            return jax.make_array_from_callback((self.n, *np.shape(x)), self.sharding, block)

        leaves = [leaf(i, x) for i, x in enumerate(jax.tree.leaves(ref))]
        return jax.tree.unflatten(jax.tree.structure(ref), leaves)

    def get(self, tree) -> dict:
        """``{row: host tree}`` for every row, on every process (a gather across
        processes in a multi-process job: meant for small trees)."""
        if jax.process_count() > 1:
            host = self.across_processes(tree, tiled=True)
        else:
            host = jax.device_get(tree)
        return {k: jax.tree.map(lambda x, k=k: x[k], host) for k in range(self.n)}

    def across_processes(self, tree, tiled: bool = False):
        """``multihost_utils.process_allgather(tree, tiled)`` once this process's part of
        ``tree`` is computed and every process has passed the ``barrier``: a host tree,
        each process's leaves stacked on a new leading axis (concatenated when ``tiled``;
        a global array comes back whole)."""
        jax.block_until_ready(tree)
        self.arrive()
        return multihost_utils.process_allgather(tree, tiled=tiled)

    def arrive(self) -> None:
        """Wait at the ``barrier`` until every process is here (nothing without one):
        before each exchange across processes (a gather, a collective checkpoint)."""
        if self.barrier is not None and jax.process_count() > 1:
            self.barrier()

    @staticmethod
    def first(x) -> np.ndarray:
        """The first row this process holds of a run-axis array."""
        return np.asarray(x.addressable_shards[0].data)[0]

    @staticmethod
    def row(tree, k: int):
        """Row ``k`` of a run-axis tree, left on the one device that holds it (for
        checkpoint saves). Read from that device's shard: indexing the sharded array
        itself compiles a gather over every device of the mesh (an all-reduce), which
        XLA's CPU devices can leave waiting on a busy machine until its collective
        timeout aborts the process."""
        def one(x):
            for shard in x.addressable_shards:
                rows = shard_rows(shard.index, x.shape[0])
                if k in rows:
                    return shard.data[k - rows.start]
            raise ValueError(f"row {k} of a run axis of {x.shape[0]} is not held by this process")
        return jax.tree.map(one, tree)
