"""Export a trained policy as a standalone artifact that needs only jax to act.

    python scripts/export_policy.py runs/ip --out policy/            # the run's best checkpoint
    python scripts/export_policy.py runs/ip/checkpoints/60000 --out policy/ --nfe 1
    python validation/gym_eval.py --exported policy/                 # replay it in Gymnasium v4

CKPT is a checkpoint step directory, or a run directory (its best checkpoint; the
newest periodic one if it has no best). The artifact (``policy.json``,
``policy.jaxexport``, ``params.npz``; see ``fpmd_mjx.deploy``) holds the evaluation
policy ``obs -> action`` with ``--nfe`` network evaluations (default: the checkpoint's,
1 for FPMD-R/M and SAC), one draw without exploration noise, in the actuator range,
for a symbolic batch size, lowered for ``--platforms`` (cpu and, where this jax can
lower for it, cuda). Load it with ``fpmd_mjx.deploy.load(path)``.

Exit status: 0 ok, 2 bad input (one ``error:`` line).
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from fpmd_mjx.jax_setup import enable_compilation_cache


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("ckpt", metavar="CKPT", help="checkpoint step directory or run directory")
    p.add_argument("--out", required=True, help="artifact directory to write")
    p.add_argument("--nfe", type=int, default=None, help="network evaluations per action (default: the checkpoint's)")
    p.add_argument("--platforms", default="cpu,cuda", help="comma list of jax.export platforms (cpu, cuda, rocm, tpu)")
    args = p.parse_args(argv)
    enable_compilation_cache()
    from fpmd_mjx.checkpoint import CheckpointError
    from fpmd_mjx.deploy import DeployError
    from fpmd_mjx.export import export_checkpoint

    platforms = tuple(x.strip() for x in args.platforms.split(",") if x.strip())
    valid = ("cpu", "cuda", "rocm", "tpu")
    try:
        bad = [x for x in platforms if x not in valid]
        if bad or "cpu" not in platforms:
            raise DeployError(f"--platforms {args.platforms!r}: each of {', '.join(valid)}, cpu included")
        if args.nfe is not None and args.nfe < 1:
            raise DeployError(f"--nfe must be >= 1, got {args.nfe}")
        meta = export_checkpoint(args.ckpt, args.out, args.nfe, platforms)
    except (CheckpointError, DeployError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}: {meta['algo']} on {meta['task']} ({meta['gym_id']}), NFE {meta['nfe']}, "
          f"obs {meta['obs_dim']} -> action {meta['act_dim']}, {meta['num_params']} parameters, "
          f"platforms {', '.join(meta['platforms'])}, from {meta['source_checkpoint']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
