"""Table 1's protocol: the numbers that decide whether a run can stand beside a cell of the
paper's Table 1, read from the algorithm configs (``configs/<algo>.yaml``), and their
comparison with the paper's and the released code's values (a reference file such as
``validation/table1_protocol.yaml``, every value with its source).

    rows()                              one dict per algorithm x task, keys KEYS
    drift(rows(), load_reference(path)) one line per value that differs from the reference
"""
from __future__ import annotations

from typing import Any

import yaml

from fpmd_mjx.config import BEST_OF_N_ALGOS, CONFIG_DIR, Config, load_config

# Table 1's tasks, in the paper's order, and the algorithms of the project it has columns for
TASKS = ("half_cheetah", "reacher", "humanoid", "pusher", "inverted_pendulum", "ant", "hopper", "swimmer",
         "walker2d", "inverted_double_pendulum")
ALGOS = ("fpmd_r", "fpmd_m", "dpmd", "sac", "td3", "ppo")
KEYS = ("algo", "task", "updates", "warmup_steps", "env_steps", "eval_rule", "eval_every", "eval_episodes",
        "num_particles", "gamma")


def row(cfg: Config) -> dict:
    """The protocol of one config: gradient updates after the warm-up, warm-up and total env
    steps, the evaluation rule, interval (env steps) and episodes, best-of-N candidates
    (None for an algorithm without them) and the discount."""
    return {"algo": cfg.algo, "task": cfg.env, "updates": cfg.updates, "warmup_steps": cfg.warmup_steps,
            "env_steps": cfg.total_steps, "eval_rule": cfg.eval_rule, "eval_every": cfg.eval_every,
            "eval_episodes": cfg.eval_episodes,
            "num_particles": cfg.num_particles if cfg.algo in BEST_OF_N_ALGOS else None, "gamma": cfg.gamma}


def rows(config_dir: str = CONFIG_DIR) -> list[dict]:
    """:func:`row` of every algorithm x task of the paper configs in ``config_dir``."""
    return [row(load_config(a, t, config_dir=config_dir)) for a in ALGOS for t in TASKS]


def load_reference(path: str) -> dict:
    """The reference file: ``{algo: {key: [value, source], ..., "tasks": {task: {key: [value, source]}}}}``."""
    with open(path) as f:
        return yaml.safe_load(f)


def expected(reference: dict, algo: str, task: str) -> dict[str, tuple[Any, str]]:
    """``{key: (value, source)}`` the reference holds for ``algo`` on ``task``."""
    entry = reference.get(algo) or {}
    merged = {k: v for k, v in entry.items() if k != "tasks"}
    merged.update((entry.get("tasks") or {}).get(task) or {})
    return {k: (v[0], v[1]) for k, v in merged.items()}


def drift(table: list[dict], reference: dict) -> list[str]:
    """One line per value of ``table`` that differs from the reference (empty: no drift);
    a reference key the rows lack is drift too."""
    out = []
    for r in table:
        for key, (value, source) in expected(reference, r["algo"], r["task"]).items():
            if key not in r or r[key] != value:
                out.append(f"{r['algo']}/{r['task']}: {key} = {r.get(key)!r}, the reference says {value!r} ({source})")
    return out
