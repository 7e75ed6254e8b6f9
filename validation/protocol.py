"""Table 1's protocol of the paper configs, and its drift from the paper and the released code.

    python validation/protocol.py                 # the table (markdown) and the drift check
    python validation/protocol.py --json p.json   # also the rows as JSON (a list of dicts)

One row per algorithm x task of ``configs/<algo>.yaml``: ``updates`` (gradient updates
after the warm-up), ``warmup_steps``, ``env_steps`` (every env step of the run, the
warm-up included), ``eval_rule``, ``eval_every`` (env steps), ``eval_episodes``,
``num_particles`` (best-of-N candidates; empty for algorithms without them) and
``gamma``. The reference, ``validation/table1_protocol.yaml``, holds the paper's and the
released code's value of each, with its source.

Exit status: 0 the configs follow the reference, 1 drift (one line per value), 2 bad input.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
REFERENCE = os.path.join(ROOT, "validation", "table1_protocol.yaml")


def markdown(rows: list[dict], keys: tuple) -> str:
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    for r in rows:
        lines.append("| " + " | ".join("" if r[k] is None else f"{r[k]:,}" if isinstance(r[k], int) else str(r[k])
                                       for k in keys) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", default=None, metavar="FILE", help="write the rows as a JSON list")
    p.add_argument("--config-dir", default=None, help="directory of <algo>.yaml files (default: configs/)")
    p.add_argument("--reference", default=REFERENCE, help="reference values with sources (YAML)")
    args = p.parse_args(argv)
    from fpmd_mjx import protocol
    from fpmd_mjx.config import CONFIG_DIR, ConfigError

    for path in (args.config_dir or CONFIG_DIR, args.reference):
        if not os.path.exists(path):
            print(f"error: {path!r} does not exist", file=sys.stderr)
            return 2
    try:
        rows = protocol.rows(args.config_dir or CONFIG_DIR)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(markdown(rows, protocol.KEYS))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    drift = protocol.drift(rows, protocol.load_reference(args.reference))
    print(f"\n{len(drift)} values differ from {os.path.relpath(args.reference)}" if drift else
          f"\nevery value follows {os.path.relpath(args.reference)} (the paper and the released code)")
    for line in drift:
        print("  " + line)
    return 1 if drift else 0


if __name__ == "__main__":
    sys.exit(main())
