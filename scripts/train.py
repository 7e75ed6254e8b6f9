"""Train FPMD-R / FPMD-M (or a baseline) on an MJX port of a Gymnasium MuJoCo v4 task.

    python scripts/train.py --env ant --algo fpmd_m
    python scripts/train.py --env hopper --algo fpmd_r --steps 300000 --num-seeds 2 --out runs/hopper
    python scripts/train.py --env hopper --algo fpmd_r --out runs/hopper --resume
    python scripts/train.py --env hopper --algo fpmd_r --out runs/hopper --until 100000   # then --resume
    python scripts/train.py --env ant --algo fpmd_r --set num_envs=64 --set updates_per_step=8
    python scripts/train.py --env brax:fast --algo fpmd_m     # an environment from brax's registry
    python scripts/train.py --list-envs

Writes OUT/metrics.csv, OUT/tb/ (TensorBoard) and orbax checkpoints under
OUT/checkpoints/ and OUT/best/ (OUT/seed_<k>/... with several seeds); replay one in
Gymnasium with ``python validation/gym_eval.py OUT``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import warnings

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # quiet XLA's cache-loader log lines


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--env", default="inverted_pendulum",
                   help="task name or Gymnasium id (e.g. ant, Hopper-v4), or brax:NAME (--list-envs)")
    p.add_argument("--list-envs", action="store_true", help="list the environments --env accepts and exit")
    p.add_argument("--algo", default="fpmd_r", help="fpmd_r, fpmd_m, sac, dpmd or td3")
    p.add_argument("--seed", type=int, default=None, help="first seed (default: config's seed, 0)")
    p.add_argument("--steps", type=int, default=None, help="total env steps (default: the config's)")
    p.add_argument("--num-seeds", type=int, default=1, help="seeds trained in one program (vmap)")
    p.add_argument("--physics", default=None, help="MJX backend: jax (default) or warp (the warp extra)")
    p.add_argument("--out", default=None, help="run directory (default runs/<env>-<algo>)")
    p.add_argument("--resume", action="store_true", help="continue from OUT's newest checkpoint")
    p.add_argument("--until", type=int, default=None, metavar="STEP",
                   help="stop at the first chunk end at or past this env step, with a checkpoint "
                        "(continue later with --resume; e.g. to spread a long run over several sittings)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override any config field, e.g. --set actor_lr=1e-4 (repeatable)")
    p.add_argument("--config", default=None, metavar="YAML",
                   help="overlay of flat config keys applied before --set (e.g. configs/quick_ip.yaml)")
    p.add_argument("--config-dir", default=None, help="directory of <algo>.yaml files (default: configs/)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--mjx-upstream", action="store_true",
                   help="simulate with MJX as installed, without the project's corrections "
                        "(fpmd_mjx.envs.mjx_corrections); only to measure what they change")
    return p.parse_args(argv)


def list_envs() -> int:
    from fpmd_mjx import envs
    from fpmd_mjx.envs import foreign

    print("tasks (Gymnasium v4 ports, replayable in Gymnasium): " + ", ".join(envs.names()))
    print("brax: " + ", ".join(f"brax:{n}" for n in foreign.names("brax")))
    try:
        print("playground: " + ", ".join(f"playground:{n}" for n in foreign.names("playground")))
    except ValueError as e:  # the playground extra is not installed
        print(f"playground: {e}")
    print("custom:NAME: an environment object of your own, through the library (make_train(cfg, env=...))")
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    warnings.filterwarnings("ignore")
    if args.list_envs:
        return list_envs()
    from fpmd_mjx.config import CONFIG_DIR, ConfigError, cli_overrides, load_config

    try:
        overrides = cli_overrides(args.config, args.set, total_steps=args.steps, seed=args.seed,
                                  physics=args.physics)
        if args.num_seeds < 1:
            raise ConfigError(f"--num-seeds must be >= 1, got {args.num_seeds}")
        if args.until is not None and args.until < 1:
            raise ConfigError(f"--until must be an env step >= 1, got {args.until}")
        cfg = load_config(args.algo, args.env, overrides, args.config_dir or CONFIG_DIR)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    out = args.out or os.path.join("runs", cfg.run_name)
    run_file = os.path.join(out, "run.json")
    if args.resume:
        if not os.path.exists(run_file):
            print(f"error: --resume: {out!r} holds no run to resume (no run.json)", file=sys.stderr)
            return 2
        with open(run_file) as f:
            saved = json.load(f)
        diff = sorted(k for k, v in cfg.to_dict().items()
                      if k != "total_steps" and saved["config"].get(k) != v)
        if diff or saved["num_seeds"] != args.num_seeds:
            print(f"error: --resume: options differ from the saved run in {diff or ['num_seeds']}; "
                  f"pass the same --env/--algo/--set/--num-seeds", file=sys.stderr)
            return 2
    elif os.path.exists(run_file):
        print(f"error: {out!r} already holds a run; use --resume or another --out", file=sys.stderr)
        return 2

    from fpmd_mjx.checkpoint import CheckpointError
    from fpmd_mjx.jax_setup import enable_compilation_cache
    from fpmd_mjx.rundir import save_run_info
    from fpmd_mjx.runner import NonFiniteLoss, run

    enable_compilation_cache()
    import jax

    from fpmd_mjx.offpolicy import check_devices

    try:
        check_devices(cfg)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    if args.mjx_upstream:
        from fpmd_mjx.envs import mjx_corrections

        mjx_corrections.uninstall()
        print("note: MJX without the project's corrections (--mjx-upstream)")

    print(f"training {cfg.algo} on {cfg.env} for {cfg.total_steps} env steps ({cfg.updates} updates), "
          f"{args.num_seeds} seed(s), {cfg.num_envs} envs on {jax.devices()[0].platform}; out: {out}")
    save_run_info(out, cfg, args.num_seeds)
    try:
        res = run(cfg, out, num_seeds=args.num_seeds, resume=args.resume, progress=not args.no_progress,
                  until=args.until)
    except NonFiniteLoss as e:
        print(f"error: training stopped: {e}", file=sys.stderr)
        return 3
    except CheckpointError as e:
        print(f"error: --resume: {e}", file=sys.stderr)
        return 2
    if not res.interrupted and res.env_steps < cfg.total_steps:
        print(f"stopped at env step {res.env_steps} of {cfg.total_steps} (--until); continue with --resume")
    print(f"done: {res.env_steps} env steps; MJX eval return (NFE={res.eval_nfe}) "
          f"per seed: {[round(r, 1) for r in res.eval_returns]}, best: {[round(r, 1) for r in res.best_returns]}")
    print(f"checkpoints: {', '.join(res.run_dirs)}  (replay: python validation/gym_eval.py {out})")
    return 130 if res.interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
