"""Sweeps as programs: every (task, algorithm) of a sweep is one compiled program whose
runs (seeds x grid values) sit on a vmapped run axis, sharded over the devices of every
process of the job (``scripts/sweep.py`` is a thin shell over :func:`plan` and :func:`run`;
several processes join through :mod:`fpmd_mjx.distributed`).

Layout under the sweep directory ``OUT``::

    OUT/sweep.json                          the plan (for --resume checks and results_table)
    OUT/<task>-<algo>/seed_<k>/             one run, exactly as scripts/train.py writes it
    OUT/<task>-<algo>/<field>=<v>,.../seed_<k>/   with a --grid
    OUT/<task>-<algo>/group_state/<step>/   several processes: the program's training state

Seeds are ``cfg.seed + k``. Each run directory holds ``run.json``, ``metrics.csv``, ``tb/``,
``checkpoints/`` and ``best/``, so ``validation/gym_eval.py`` works on it, and ``--resume``
on the sweep. A one-process sweep's run directories also hold each run's training state
(``scripts/train.py --resume`` works on them); a multi-process sweep keeps it in
``group_state/``, restorable on any number of processes.
"""
from __future__ import annotations

import dataclasses
import itertools
import json
import os

import jax
import numpy as np

from fpmd_mjx.checkpoint import GroupCheckpointer, checkpoint_steps
from fpmd_mjx.config import FIELDS, GRID_FIELDS, Config, ConfigError, from_dict, load_config
from fpmd_mjx.rundir import save_run_info
from fpmd_mjx.runner import RunSpec, run_group

PLAN_FILE = "sweep.json"


@dataclasses.dataclass(frozen=True)
class Group:
    """The runs of one compiled program: one (task, algo) config, seeds x grid points."""

    cfg: Config
    runs: tuple  # of fpmd_mjx.runner.RunSpec
    out: str  # OUT/<task>-<algo>

    @property
    def name(self) -> str:
        return f"{self.cfg.env}-{self.cfg.algo}"


def parse_grid(items) -> dict:
    """``["lam=0.5,1,2", "tau=0.01"]`` -> ``{"lam": (0.5, 1.0, 2.0), "tau": (0.01,)}``.

    Only :data:`GRID_FIELDS` may vary inside one program; a field that changes
    shapes or the program's structure is refused with the reason (one line)."""
    grid = {}
    for item in items or ():
        if "=" not in item:
            raise ConfigError(f"bad --grid {item!r}: expected FIELD=V1,V2,...")
        key, values = (x.strip() for x in item.split("=", 1))
        if key not in GRID_FIELDS:
            if key in FIELDS:
                raise ConfigError(f"--grid {key}: changes the compiled program (a shape, a loop length or a "
                                  f"switch), so it cannot vary inside one; run one sweep per value with --set "
                                  f"{key}=...; grid fields: {', '.join(GRID_FIELDS)}")
            raise ConfigError(f"--grid: unknown field {key!r}; grid fields: {', '.join(GRID_FIELDS)}")
        try:
            vals = tuple(float(v) for v in values.split(",") if v.strip())
        except ValueError:
            raise ConfigError(f"--grid {key}: values must be numbers, got {values!r}") from None
        if not vals:
            raise ConfigError(f"--grid {key}: no values")
        grid[key] = vals
    return grid


def _tag(point: dict) -> str:
    return ",".join(f"{k}={v:g}" for k, v in sorted(point.items()))


def plan(envs, algos, num_seeds: int, out: str, overrides: dict | None = None, grid: dict | None = None,
         config_dir: str | None = None) -> list[Group]:
    """The groups of a sweep (validated: unknown tasks, algos and bad grid values raise
    a one-line ConfigError before anything is written)."""
    if num_seeds < 1:
        raise ConfigError(f"--seeds must be >= 1, got {num_seeds}")
    if not envs or not algos:
        raise ConfigError("a sweep needs at least one task (--envs) and one algo (--algos)")
    grid = dict(grid or {})
    points = [dict(zip(grid, vals)) for vals in itertools.product(*grid.values())] or [{}]
    kw = {"config_dir": config_dir} if config_dir else {}
    groups = []
    for env, algo in itertools.product(envs, algos):
        cfg = load_config(algo, env, overrides, **kw)
        gdir = os.path.join(out, cfg.run_name)
        runs = []
        for point in points:
            base = os.path.join(gdir, _tag(point)) if point else gdir
            for k in range(num_seeds):
                run = RunSpec(os.path.join(base, f"seed_{k}"), cfg.seed + k, tuple(sorted(point.items())))
                run.config(cfg)  # one-line ConfigError for a bad grid value (e.g. gamma=2)
                runs.append(run)
        groups.append(Group(cfg, tuple(runs), gdir))
    return groups


def plan_record(groups: list[Group], args: dict) -> dict:
    """What ``OUT/sweep.json`` holds: the arguments and every run's directory, seed and grid point."""
    return {"args": args, "groups": [
        {"env": g.cfg.env, "algo": g.cfg.algo, "config": g.cfg.to_dict(),
         "runs": [{"dir": os.path.relpath(r.out, os.path.dirname(g.out)), "seed": r.seed, "grid": dict(r.grid)}
                  for r in g.runs]} for g in groups]}


def same_plan(saved: dict, record: dict) -> bool:
    """Whether the plan ``saved`` in a sweep directory (:func:`load_plan`) plans the runs of
    ``record`` (:func:`plan_record`): the same groups, runs and configs, where a config saved
    by an older version is read with today's defaults for the fields it lacks."""
    def normal(groups):
        try:
            return [{**g, "config": from_dict(g["config"]).to_dict()} for g in groups]
        except (ConfigError, KeyError, TypeError):
            return None

    old = normal(saved.get("groups", []))
    return old is not None and old == normal(record["groups"])


def load_plan(out: str) -> dict:
    path = os.path.join(out, PLAN_FILE)
    if not os.path.isfile(path):
        raise ConfigError(f"{out!r} holds no sweep ({PLAN_FILE} missing)")
    with open(path) as f:
        return json.load(f)


def at_budget(run_dir: str, total_steps: int) -> bool:
    """Whether ``run_dir`` holds a checkpoint at env step ``total_steps`` (or later)."""
    return max(checkpoint_steps(run_dir), default=-1) >= total_steps


def unfinished_runs(out: str, group: dict) -> list[str]:
    """The run directories (relative to the sweep directory ``out``) of ``group``, one
    entry of :func:`load_plan`'s ``"groups"``, that hold no checkpoint at the group's full
    budget (``config.total_steps``) yet: empty once the group has finished."""
    return [r["dir"] for r in group["runs"]
            if not at_budget(os.path.join(out, r["dir"]), group["config"]["total_steps"])]


def status(group: Group) -> str:
    """``"new"`` (nothing to continue from), ``"done"`` (every run checkpointed at the
    full budget) or ``"partial"`` (every run has a checkpoint, or a multi-process job
    left a group checkpoint of the program's state)."""
    if all(at_budget(r.out, group.cfg.total_steps) for r in group.runs):
        return "done"
    if GroupCheckpointer.steps(group.out):  # (a stop before every run's policy was exported)
        return "partial"
    if any(not checkpoint_steps(r.out) for r in group.runs):  # (a stop during the very first saves: start over)
        return "new"
    return "partial"


def mesh_or_none(devices=None):
    """A one-axis mesh (``"runs"``) over ``devices`` (default: every device of every
    process), or None when there is only one device (no sharding needed)."""
    devices = list(devices if devices is not None else jax.devices())
    if len(devices) == 1:
        return None
    return jax.sharding.Mesh(np.array(devices), ("runs",))


def run(groups: list[Group], resume: bool = False, progress: bool = True, mesh=None, log=print,
        sync=None, until: int | None = None) -> dict:
    """Train every group (one program each, the run axis sharded over ``mesh``).

    ``resume``: groups already at their budget are skipped, partial ones continue from
    every run's last checkpoint, new ones start. ``sync``: called at every chunk boundary
    (a multi-process job's liveness check, see :mod:`fpmd_mjx.distributed`). ``until``:
    every group stops at the first chunk end at or past that env step (resumable). Returns
    ``{group name: RunResult}``."""
    results = {}
    for g in groups:
        state = status(g) if resume else "new"
        if state == "done":
            log(f"{g.name}: done, skipped")
            continue
        if jax.process_index() == 0:
            for r in g.runs:
                save_run_info(r.out, r.config(g.cfg), 1)
        log(f"{g.name}: {len(g.runs)} runs in one program ({state})")
        if g.cfg.devices > 1 and mesh is not None:
            log(f"{g.name}: devices={g.cfg.devices}: each run data parallel, runs one program on those devices")
        results[g.name] = run_group(g.cfg, list(g.runs), resume=state == "partial", progress=progress,
                                    mesh=None if g.cfg.devices > 1 else mesh, group_dir=g.out, sync=sync, until=until)
    return results
