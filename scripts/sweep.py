"""Train a whole table of runs: tasks x algorithms x seeds (x a grid of hyperparameters),
one compiled program per (task, algorithm), its runs sharded over every device.

    python scripts/sweep.py --envs hopper,walker2d --algos fpmd_r,fpmd_m,sac --seeds 5 --out runs/table1
    python scripts/sweep.py --envs hopper --algos fpmd_m --seeds 3 --grid lam=0.5,1,2 --out runs/lam
    python scripts/sweep.py ... --out runs/table1 --resume        # continue every run from its checkpoint
    python scripts/sweep.py ... --out runs/table1 --until 500000  # stop with checkpoints, --resume later
    python validation/results_table.py runs/table1                # Gymnasium replays -> Table-1 markdown/CSV

Several hosts (one process per host, the same command on each, a shared OUT; see the
docs/scaling.md):

    python scripts/sweep.py ... --coordinator 10.0.0.1:1234 --num-processes 2 --process-id 0
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import warnings

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--envs", required=True, help="comma-separated tasks (names or Gymnasium ids)")
    p.add_argument("--algos", required=True, help="comma-separated algos (fpmd_r, fpmd_m, sac, dpmd, td3, ppo)")
    p.add_argument("--seeds", type=int, default=1, help="seeds per task, algo and grid point")
    p.add_argument("--out", required=True, help="sweep directory")
    p.add_argument("--steps", type=int, default=None, help="total env steps per run (default: the config's)")
    p.add_argument("--seed", type=int, default=None, help="first seed (default: the config's, 0)")
    p.add_argument("--config", default=None, metavar="YAML", help="overlay of flat config keys (before --set)")
    p.add_argument("--config-dir", default=None, help="directory of <algo>.yaml files (default: configs/)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config field")
    p.add_argument("--grid", action="append", default=[], metavar="FIELD=V1,V2",
                   help="vary a grid field across the runs of each program (repeatable: the product)")
    p.add_argument("--resume", action="store_true", help="continue the sweep in OUT")
    p.add_argument("--until", type=int, default=None, metavar="STEP",
                   help="stop each program at the first chunk end at or past this env step, with a checkpoint "
                        "(continue later with --resume)")
    p.add_argument("--devices", type=int, default=None,
                   help="shard the runs over the first N devices of each process (default: all)")
    p.add_argument("--coordinator", default=os.environ.get("JAX_COORDINATOR_ADDRESS"), metavar="HOST:PORT",
                   help="process 0's address, for a job of several processes (env JAX_COORDINATOR_ADDRESS)")
    p.add_argument("--num-processes", type=int, default=_env_int("JAX_NUM_PROCESSES"),
                   help="processes in the job (env JAX_NUM_PROCESSES)")
    p.add_argument("--process-id", type=int, default=_env_int("JAX_PROCESS_ID"),
                   help="this process's id, 0 .. num-processes - 1 (env JAX_PROCESS_ID)")
    p.add_argument("--peer-timeout", type=float, default=120.0, metavar="S",
                   help="seconds without a sign of life from another process before stopping (default 120)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p.parse_args(argv)


def _env_int(name: str):
    v = os.environ.get(name)
    return int(v) if v and v.strip().lstrip("-").isdigit() else None


def _error(msg: str) -> int:
    print(f"error: {msg}", file=sys.stderr)
    return 2


def main(argv=None) -> int:
    args = parse_args(argv)
    warnings.filterwarnings("ignore")
    from fpmd_mjx import sweep
    from fpmd_mjx.config import ConfigError, cli_overrides
    from fpmd_mjx.distributed import Distributed, PeerLost

    try:
        overrides = cli_overrides(args.config, args.set, total_steps=args.steps, seed=args.seed)
        grid = sweep.parse_grid(args.grid)
        groups = sweep.plan(_split(args.envs), _split(args.algos), args.seeds, args.out, overrides, grid,
                            args.config_dir)
        if args.until is not None and args.until < 1:
            raise ConfigError(f"--until must be an env step >= 1, got {args.until}")
        dist = Distributed.from_args(args.coordinator, args.num_processes, args.process_id, args.peer_timeout)
    except ConfigError as e:
        return _error(str(e))
    record = sweep.plan_record(groups, {k: v for k, v in vars(args).items()
                                        if k in ("envs", "algos", "seeds", "steps", "seed", "config", "set", "grid")})
    plan_file = os.path.join(args.out, sweep.PLAN_FILE)
    if args.resume:
        try:
            saved = sweep.load_plan(args.out)
        except ConfigError as e:
            return _error(f"--resume: {e}")
        if not sweep.same_plan(saved, record):
            return _error(f"--resume: the sweep in {args.out!r} was planned with other options "
                          f"({saved['args']}); pass the same --envs/--algos/--seeds/--grid/--set")
    elif os.path.exists(plan_file):
        return _error(f"{args.out!r} already holds a sweep; use --resume or another --out")

    from fpmd_mjx.jax_setup import enable_compilation_cache

    try:
        dist.initialize()
    except ConfigError as e:
        return _error(str(e))
    enable_compilation_cache()
    import jax

    devices = _devices(args.devices)
    if isinstance(devices, str):
        return _error(devices)
    mesh = sweep.mesh_or_none(devices)
    if dist.process_id == 0:
        os.makedirs(args.out, exist_ok=True)
        with open(plan_file, "w") as f:
            json.dump(record, f, indent=2)
    n = sum(len(g.runs) for g in groups)
    who = f"[process {dist.process_id}] " if dist.num_processes > 1 else ""
    print(f"{who}sweep of {n} runs in {len(groups)} programs on {len(devices)} {jax.devices()[0].platform} "
          f"device(s) of {dist.num_processes} process(es); out: {args.out}")
    try:
        results = sweep.run(groups, resume=args.resume, progress=not args.no_progress, mesh=mesh,
                            log=lambda m: print(f"{who}{m}"), sync=dist.sync, until=args.until)
    except PeerLost as e:
        _peer_lost(str(e))
    except Exception:
        lost = dist.lost_peer()  # a collective or a checkpoint barrier failed: a process died there?
        if lost:
            _peer_lost(lost)
        raise
    for name, res in results.items():
        for r in (res if isinstance(res, list) else [res]):
            best = [(os.path.relpath(d, args.out), round(b, 1)) for d, b in zip(r.run_dirs, r.best_returns)]
            print(f"{who}{name}: best MJX eval return per run: {best}")
    dist.shutdown()
    interrupted = any(r.interrupted for res in results.values() for r in (res if isinstance(res, list) else [res]))
    if interrupted:
        return 130
    if args.until is not None and any(args.until < g.cfg.total_steps for g in groups):
        print(f"{who}stopped at env step {args.until} (--until); continue with --resume")
        return 0
    print(f"{who}done; the table: python validation/results_table.py {args.out}")
    return 0


def _peer_lost(message: str) -> None:
    """Stop with one line. Every checkpoint on disk is whole (saves are synchronous);
    leave without the runtime's shutdown barrier, which would wait for the lost process."""
    print(f"error: {message}; continue with --resume", file=sys.stderr, flush=True)
    sys.stdout.flush()
    os._exit(3)


def _split(s: str) -> list[str]:
    return [x.strip() for x in s.split(",") if x.strip()]


def _devices(n):
    """The first ``n`` devices of every process (all by default), or an error message."""
    import jax

    if n is None:
        return jax.devices()
    local = jax.local_device_count()
    if not 1 <= n <= local:
        return f"--devices {n}: this machine has {local} device(s); valid: 1..{local}"
    by_process = {}
    for d in jax.devices():
        by_process.setdefault(d.process_index, []).append(d)
    return [d for p in sorted(by_process) for d in by_process[p][:n]]


if __name__ == "__main__":
    sys.exit(main())
