"""The CLI's training loop: compiled chunks of ``make_train`` between progress,
evaluation, logging and checkpoints (``scripts/train.py`` is a thin shell over ``run``).

Several seeds train in one program (``jax.vmap`` over the chunk); each seed writes
its own run directory ``OUT/seed_<k>/`` (``OUT/`` itself when there is one seed).
One seed runs unbatched (the seed axis added around the program, not vmapped), so
the agents' and the envs' ``lax.cond`` branches are skipped for real rather than
computed and discarded as under ``vmap``.
"""
from __future__ import annotations

import dataclasses
import math
import os
import time

import jax
import numpy as np

from fpmd_mjx.agents import ALGORITHMS
from fpmd_mjx.checkpoint import GroupCheckpointer, RunCheckpointer, checkpoint_steps, state_steps
from fpmd_mjx.programs import RunRows, programs
from fpmd_mjx.rundir import LOSS_KEYS, Recorder, RunDirRecorder, interrupt_after, seed_dirs


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


def run(cfg, out: str, num_seeds: int = 1, resume: bool = False, progress: bool = True, until: int | None = None,
        recorder: Recorder | None = None, env=None) -> RunResult:
    """Train ``cfg`` for ``cfg.total_steps`` env steps, ``num_seeds`` seeds in one program.

    Seeds are ``cfg.seed .. cfg.seed + num_seeds - 1``. Raises ``NonFiniteLoss`` (after
    keeping the last good checkpoint) when a loss turns NaN/inf. ``until``, ``recorder``
    and ``env``: see :func:`run_group`.
    """
    os.makedirs(out, exist_ok=True)
    runs = [RunSpec(d, cfg.seed + k) for k, d in enumerate(seed_dirs(out, num_seeds))]
    return run_group(cfg, runs, resume=resume, progress=progress, until=until, recorder=recorder, env=env)


def run_group(cfg, runs: list, resume: bool = False, progress: bool = True, mesh=None, group_dir: str | None = None,
              sync=None, until: int | None = None, recorder: Recorder | None = None, env=None) -> RunResult:
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
    and before every gather and collective checkpoint across processes (the liveness check of
    :class:`fpmd_mjx.distributed.Distributed`; it raises to stop).

    ``until``: stop at the first chunk end at or past env step ``until`` (a checkpoint
    is saved there; ``resume=True`` continues to ``cfg.total_steps``). ``recorder``
    receives the metrics, evaluations and progress (:class:`fpmd_mjx.rundir.Recorder`;
    default: :class:`~fpmd_mjx.rundir.RunDirRecorder` into each run's directory). ``env``:
    an environment of your own (``cfg.env`` = ``custom:NAME``; see ``train.make_train``).
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
    progs = programs(cfg, len(padded), grid_keys, mesh, env)
    rows = RunRows(len(padded), mesh, barrier=sync)
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
            rows.arrive()
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
            row = lambda tree, k: None if tree is None else RunRows.row(tree, k)
        for k in every if writer else ():
            r = runs[k]
            meta = {"env": cfg.env, "gym_id": trainer.env.gym_id, "algo": cfg.algo,
                    "config": r.config(cfg).to_dict(), "num_seeds": len(runs), "seed": r.seed, "env_steps": step,
                    "updates": cfg.updates_at(step), "eval_rule": cfg.eval_rule, "eval_return": latest[k],
                    "best_eval_return": best[k], "eval_nfe": agent.eval_nfe,
                    "eval_returns_by_nfe": {str(n): evals[n][k] for n in evals} if evals else {}}
            if periodic:
                ckpts[k].save(step, None if multi else RunRows.row(state, k), row(pol, k), meta, row(critic, k))
            if k in improved:
                ckpts[k].save_best(step, row(pol, k), meta, row(critic, k))

    if recorder is None:
        recorder = RunDirRecorder({k: runs[k].out for k in mine}, resume, cfg.total_steps, steps(), progress)
    stop = cfg.total_steps if until is None else min(until, cfg.total_steps)
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
                recorder.evaluation(step, cfg.updates_at(step), evals, agent.eval_nfe)
            if evals is not None or step >= next_ckpt or step >= stop:
                periodic = step >= next_ckpt or step >= stop
                with interrupt_after():  # a Ctrl-C during a save stops after it, never inside it
                    save_all(step, evals, periodic)
                if periodic:
                    next_ckpt = step + cfg.checkpoint_every
            if step >= stop:
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
            recorder.chunk(steps(), cfg.updates_at(steps()), rate, m)
            recorder.progress(steps(), latest, best)
    except KeyboardInterrupt:
        interrupted = True
        last = max(checkpoint_steps(first_dir), default=None)
        print(f"\ninterrupted at env step {steps()}; last checkpoint: "
              f"{last} in {os.path.join(first_dir, 'checkpoints')} (continue with --resume)")
    finally:
        recorder.close()
        for c in ckpts.values():
            c.close()
        if group_ckpt is not None:
            group_ckpt.close()
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
            rows.arrive()
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
        bests = np.max(rows.across_processes(np.asarray(bests, np.float64)), axis=0).tolist()
    return state, dict(enumerate(bests))
