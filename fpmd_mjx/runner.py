"""The CLI's training loop: compiled chunks of ``make_train`` between progress,
evaluation, logging and checkpoints (``scripts/train.py`` is a thin shell over ``run``).

Several seeds train in one program (``jax.vmap`` over the chunk); each seed writes
its own run directory ``OUT/seed_<k>/`` (``OUT/`` itself when there is one seed).
One seed runs unbatched (the seed axis added around the program, not vmapped), so
the agents' and the envs' ``lax.cond`` branches are skipped for real rather than
computed and discarded as under ``vmap``.
"""
from __future__ import annotations

import csv
import dataclasses
import functools
import json
import contextlib
import math
import os
import signal
import threading
import time

import jax
import jax.numpy as jnp
import numpy as np

from fpmd_mjx.checkpoint import RunCheckpointer
from fpmd_mjx.train import make_train

LOSS_KEYS = ("critic_loss", "actor_loss", "q_mean")
# training metrics averaged over a chunk into metrics.csv / TensorBoard (when the agent has them)
CHUNK_METRICS = LOSS_KEYS + ("noise_std", "weight_ess", "weight_max_share")


class NonFiniteLoss(RuntimeError):
    """Training produced NaN/inf in a loss (message names the quantity and step)."""


@dataclasses.dataclass
class RunResult:
    env_steps: int
    eval_returns: list  # latest MJX eval return per seed (NFE = agent.eval_nfe)
    best_returns: list
    run_dirs: list
    eval_nfe: int = 1
    interrupted: bool = False


# Fields that steer the Python loop only; runs that differ in nothing else share
# one set of compiled programs (in one process: resume, sweeps, tests).
LOOP_ONLY_FIELDS = ("total_steps", "eval_every", "checkpoint_every", "keep_checkpoints", "seed")


@dataclasses.dataclass(frozen=True)
class Programs:
    """The jitted pieces of one run, vmapped over seeds (see :func:`programs`)."""

    trainer: object
    init: object
    warmup: object
    chunk: object
    evaluate: dict  # nfe -> jitted (params, keys) -> (returns, lengths)
    nfes: tuple
    num_seeds: int = 1
    short_chunks: dict = dataclasses.field(default_factory=dict)  # n -> jitted shorter chunk

    def chunk_of(self, num_iterations: int):
        """The chunk program for ``num_iterations`` iterations (the last chunk of a
        budget that is not a whole number of chunks gets its own, compiled once)."""
        if num_iterations == self.trainer.cfg.chunk_iterations:
            return self.chunk
        if num_iterations not in self.short_chunks:
            fn = lambda s: self.trainer.train_chunk(s, num_iterations)  # noqa: E731
            self.short_chunks[num_iterations] = _over_seeds(fn, self.num_seeds)
        return self.short_chunks[num_iterations]


def programs(cfg, num_seeds: int) -> Programs:
    """Compiled programs for ``cfg`` and ``num_seeds``, shared by every run in this
    process whose config differs only in :data:`LOOP_ONLY_FIELDS`."""
    defaults = type(cfg)()
    key = dataclasses.replace(cfg, **{f: getattr(defaults, f) for f in LOOP_ONLY_FIELDS})
    return _programs(key, num_seeds)


@functools.lru_cache(maxsize=8)
def _programs(cfg, num_seeds: int) -> Programs:
    trainer = make_train(cfg)
    agent = trainer.agent
    nfes = tuple(sorted({agent.eval_nfe, cfg.flow_steps} if cfg.algo == "fpmd_r" else {agent.eval_nfe}))
    seeds = functools.partial(_over_seeds, num_seeds=num_seeds)
    evaluate = {n: seeds(lambda p, k, n=n: trainer.evaluate(p, k, n)) for n in nfes}
    return Programs(trainer=trainer, init=seeds(trainer.init),
                    warmup=seeds(lambda s: _strong(trainer.warmup(s)[0])),
                    chunk=seeds(trainer.train_chunk), evaluate=evaluate, nfes=nfes, num_seeds=num_seeds)


def _over_seeds(fn, num_seeds: int):
    """``fn`` jitted over a leading seed axis: ``vmap`` for several seeds; for one,
    the axis is removed before and restored after ``fn`` (same signature, no
    batching, so ``lax.cond`` stays a branch)."""
    if num_seeds > 1:
        return jax.jit(jax.vmap(fn))

    def one(*args):
        out = fn(*jax.tree.map(lambda x: x[0], args))
        return jax.tree.map(lambda x: x[None], out)

    return jax.jit(one)


def _strong(tree):
    """Leaves without JAX's weak type (flashbax's buffer index is weakly typed), so
    a state restored from a checkpoint has the same signature and reuses the
    compiled chunk instead of tracing it again."""
    return jax.tree.map(lambda x: jax.lax.convert_element_type(x, x.dtype), tree)


def _seed_dirs(out: str, num_seeds: int) -> list[str]:
    return [out] if num_seeds == 1 else [os.path.join(out, f"seed_{k}") for k in range(num_seeds)]


def _index(tree, k):
    return jax.tree.map(lambda x: x[k], tree)


def _first_nonfinite(metrics: dict, start_iter: int, num_envs: int):
    """(name, env_step) of the first non-finite loss in a chunk's metrics, each (seeds, iters), or None."""
    for name in LOSS_KEYS:
        bad = ~np.isfinite(np.asarray(metrics[name])).reshape(-1, np.shape(metrics[name])[-1])
        if bad.any():
            return name, (start_iter + int(np.argmax(bad.any(axis=0))) + 1) * num_envs
    return None


class _Logger:
    """CSV + TensorBoard per seed."""

    FIELDS = ("env_steps", "wall_s", "steps_per_s", "eval_return", "eval_return_nfe_k",
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
    keeping the last good checkpoint) when a loss turns NaN/inf. ``algo: ppo`` trains
    with brax's on-policy loop (:func:`fpmd_mjx.ppo.run_ppo`), seeds one after another.
    """
    if cfg.algo == "ppo":
        from fpmd_mjx.ppo import run_ppo

        return run_ppo(cfg, out, num_seeds, resume, progress)
    progs = programs(cfg, num_seeds)
    trainer, init, warmup = progs.trainer, progs.init, progs.warmup
    evaluate, nfes = progs.evaluate, progs.nfes
    agent = trainer.agent
    dirs = _seed_dirs(out, num_seeds)
    os.makedirs(out, exist_ok=True)
    ckpts = [RunCheckpointer(d, cfg.keep_checkpoints) for d in dirs]
    loggers = [_Logger(d, resume) for d in dirs]
    keys = jnp.stack([jax.random.PRNGKey(cfg.seed + k) for k in range(num_seeds)])

    best = [-math.inf] * num_seeds
    latest = [float("nan")] * num_seeds
    meta_base = {"env": cfg.env, "gym_id": trainer.env.gym_id, "algo": cfg.algo, "config": cfg.to_dict(),
                 "num_seeds": num_seeds}
    if resume:
        template = jax.eval_shape(trainer.init, keys[0])
        parts = [c.restore_state(template) for c in ckpts]
        # host round trip: restored arrays are committed to a device, fresh ones are
        # not, and jit would trace the chunk again for the different signature
        state = jax.tree.map(lambda *xs: jnp.asarray(np.stack([np.asarray(x) for x in xs])),
                             *[p[0] for p in parts])
        best = [p[1].get("best_eval_return", -math.inf) for p in parts]
    else:
        state = warmup(init(keys))
    steps = lambda: int(np.asarray(state.iteration)[0]) * cfg.num_envs  # noqa: E731

    def evaluate_all():
        params = agent.policy_params(state.agent)
        ekeys = jnp.stack([jax.random.fold_in(jax.random.PRNGKey(10_000 + cfg.seed + k), steps())
                           for k in range(num_seeds)])
        return {n: np.asarray(evaluate[n](params, ekeys)[0]).mean(axis=1) for n in nfes}

    def save(k, step, evals, periodic):
        meta = {**meta_base, "seed": cfg.seed + k, "env_steps": step, "eval_return": latest[k],
                "best_eval_return": best[k], "eval_nfe": agent.eval_nfe,
                "eval_returns_by_nfe": {str(n): float(evals[n][k]) for n in evals} if evals else {}}
        pol = _index(agent.policy_params(state.agent), k)
        critic = _index(agent.critic_params(state.agent), k) if agent.critic_params else None
        if periodic:
            ckpts[k].save(step, _index(state, k), pol, meta, critic)
        if evals and latest[k] >= best[k]:
            best[k] = latest[k]
            ckpts[k].save_best(step, pol, {**meta, "best_eval_return": best[k]}, critic)

    bar = _progress_bar(cfg.total_steps, steps(), progress)
    next_eval = (steps() // cfg.eval_every + 1) * cfg.eval_every if resume else steps()
    next_ckpt = (steps() // cfg.checkpoint_every + 1) * cfg.checkpoint_every if resume else steps()
    interrupted = False
    try:
        while True:
            step = steps()
            evals = None
            if step >= next_eval or step >= cfg.total_steps:
                evals = evaluate_all()
                latest = [float(v) for v in evals[agent.eval_nfe]]
                next_eval = step + cfg.eval_every
                _log_eval(loggers, step, evals, agent.eval_nfe)
            if evals is not None or step >= next_ckpt or step >= cfg.total_steps:
                periodic = step >= next_ckpt or step >= cfg.total_steps
                with _interrupt_after():  # a Ctrl-C during a save stops after it, never inside it
                    for k in range(num_seeds):
                        save(k, step, evals, periodic)
                if periodic:
                    next_ckpt = step + cfg.checkpoint_every
            if step >= cfg.total_steps:
                break
            start_iter = int(np.asarray(state.iteration)[0])
            todo = min(cfg.chunk_iterations, cfg.total_iterations - start_iter)  # exact budget
            t_chunk = time.time()  # the rate counts training only, not evaluation or saving
            new_state, m = progs.chunk_of(todo)(state)
            m = jax.device_get(m)
            bad = _first_nonfinite(m, start_iter, cfg.num_envs)
            if bad:
                raise NonFiniteLoss(f"non-finite {bad[0]} at env step {bad[1]}; kept the last good checkpoint "
                                    f"in {os.path.join(dirs[0], 'checkpoints')}")
            state = new_state
            rate = (steps() - step) / max(time.time() - t_chunk, 1e-9)
            _log_chunk(loggers, steps(), rate, m)
            bar.update(steps() - step)
            bar.set_postfix(eval=f"{np.mean(latest):.1f}", best=f"{np.mean(best):.1f}")
    except KeyboardInterrupt:
        interrupted = True
        print(f"\ninterrupted at env step {steps()}; last checkpoint: "
              f"{ckpts[0].latest_step()} in {os.path.join(dirs[0], 'checkpoints')} (continue with --resume)")
    finally:
        bar.close()
        for c in ckpts:
            c.close()
        for lg in loggers:
            lg.close()
    return RunResult(env_steps=steps(), eval_returns=latest, best_returns=best, run_dirs=dirs,
                     eval_nfe=agent.eval_nfe, interrupted=interrupted)


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


def _log_chunk(loggers, step, rate, m):
    for k, lg in enumerate(loggers):
        row = {"env_steps": step, "wall_s": time.time(), "steps_per_s": rate}
        for name in CHUNK_METRICS:
            if name in m:
                row[name] = float(np.mean(m[name][k]))
        ret = np.asarray(m["episode_return"][k])
        if np.isfinite(ret).any():
            row["train_episode_return"] = float(np.nanmean(ret))
        lg.log(row)


def _log_eval(loggers, step, evals, eval_nfe):
    for k, lg in enumerate(loggers):
        row = {"env_steps": step, "wall_s": time.time(), "eval_return": float(evals[eval_nfe][k])}
        other = [n for n in evals if n != eval_nfe]
        if other:
            row["eval_return_nfe_k"] = float(evals[other[0]][k])
        lg.log(row)


def save_run_info(out: str, cfg, num_seeds: int) -> None:
    """``OUT/run.json``: the config and seeds, for humans and for --resume checks."""
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "run.json"), "w") as f:
        json.dump({"config": cfg.to_dict(), "num_seeds": num_seeds}, f, indent=2)
