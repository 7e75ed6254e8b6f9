"""What the MJX corrections change for a trained policy: the same short training
run twice, on MJX as installed (``--mjx-upstream``) and with the project's
corrections (``fpmd_mjx.envs.mjx_corrections``), each best checkpoint replayed in
Gymnasium v4 (C MuJoCo) by ``validation/gym_eval.py``; prints both rows.

    python studies/corrections_training/corrections_training.py --env ant --algo fpmd_m \
        --config configs/quick_ant.yaml --out runs/corrections-ant
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--env", default="ant")
    p.add_argument("--algo", default="fpmd_m")
    p.add_argument("--config", default=os.path.join(ROOT, "configs", "quick_ant.yaml"))
    p.add_argument("--episodes", type=int, default=10, help="Gymnasium episodes per checkpoint")
    p.add_argument("--out", default="runs/corrections")
    args = p.parse_args(argv)
    rows = []
    for label, extra in (("mjx upstream", ["--mjx-upstream"]), ("corrected", [])):
        out = os.path.join(args.out, label.replace(" ", "_"))
        if not os.path.exists(os.path.join(out, "run.json")):
            cmd = [sys.executable, os.path.join(ROOT, "scripts", "train.py"), "--env", args.env,
                   "--algo", args.algo, "--config", args.config, "--out", out, "--no-progress", *extra]
            subprocess.run(cmd, check=True)
        res = os.path.join(out, "gym_eval.json")
        subprocess.run([sys.executable, os.path.join(ROOT, "validation", "gym_eval.py"),
                        os.path.join(out, "best"), "--episodes", str(args.episodes), "--json", res],
                       check=True)
        with open(res) as f:
            row = json.load(f)["rows"][0]
        rows.append((label, row))
    print(f"{'simulator':14s} {'steps':>7s} {'mjx return':>11s} {'gym return':>17s} {'|gap|':>8s} {'rel':>6s}")
    for label, r in rows:
        print(f"{label:14s} {r['env_steps']:7d} {r['mjx_return']:11.1f} {r['gym_return_mean']:9.1f} ± "
              f"{r['gym_return_std']:5.1f} {r['abs_gap']:8.1f} {r['rel_gap']:6.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
