"""The layout of a run directory and what a training loop records into it.

One run (one seed, one grid point) writes::

    RUN/run.json        the config and seeds (save_run_info; read by --resume checks and results tables)
    RUN/metrics.csv     one row per compiled chunk (training metrics) and per evaluation
    RUN/tb/             the same scalars for TensorBoard
    RUN/checkpoints/, RUN/best/   orbax checkpoints (fpmd_mjx.checkpoint)

Several seeds of one job go to ``OUT/seed_<k>/`` (``OUT/`` itself for one seed:
:func:`seed_dirs`). A host loop reports to a :class:`Recorder`, the way brax's
``train(..., progress_fn=...)`` reports to a callback: :class:`RunDirRecorder`
writes the files above and draws the progress bar; any object with the same four
methods can stand in for it (for example to collect the numbers in memory).
"""
from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import signal
import threading
import time
from typing import Protocol

import numpy as np
from tqdm.auto import tqdm

RUN_INFO = "run.json"
METRICS_FILE = "metrics.csv"
LOSS_KEYS = ("critic_loss", "actor_loss", "q_mean")
# training metrics averaged over a chunk into metrics.csv / TensorBoard (when the agent has them):
# the losses, the critic's TD targets (reward scale included), the temperature (SAC's entropy
# coefficient, FPMD's noise alpha) and SAC's policy entropy, and FPMD's diagnostics (noise std,
# the mirror-descent weights' effective sample size and largest share, the spread of the
# best-of-N candidates and what picking the best of them gains in Q)
CHUNK_METRICS = LOSS_KEYS + ("td_target_mean", "alpha", "entropy", "noise_std", "weight_ess", "weight_max_share",
                             "policy_spread", "best_of_n_gain")


def seed_dirs(out: str, num_seeds: int) -> list[str]:
    """The run directories of ``num_seeds`` seeds trained into ``out``."""
    return [out] if num_seeds == 1 else [os.path.join(out, f"seed_{k}") for k in range(num_seeds)]


def save_run_info(out: str, cfg, num_seeds: int) -> None:
    """``OUT/run.json``: the config and seeds, for humans and for --resume checks."""
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, RUN_INFO), "w") as f:
        json.dump({"config": cfg.to_dict(), "num_seeds": num_seeds}, f, indent=2)


class Recorder(Protocol):
    """What a host training loop reports. Runs are keyed by their index in the job.

    ``chunk``: after each compiled chunk; ``metrics[k]`` maps a metric name to its
    per-iteration values (numpy, shape ``(iterations,)``), ``rate`` is env steps per
    second of training. ``evaluation``: ``returns[nfe][k]`` is run ``k``'s mean MJX
    evaluation return with ``nfe`` network evaluations per action. ``progress``: the
    latest and best evaluation returns per run after each chunk."""

    def chunk(self, env_steps: int, updates: int, rate: float, metrics: dict) -> None: ...

    def evaluation(self, env_steps: int, updates: int, returns: dict, eval_nfe: int) -> None: ...

    def progress(self, env_steps: int, latest: dict, best: dict) -> None: ...

    def close(self) -> None: ...


class MetricsLogger:
    """``metrics.csv`` and TensorBoard scalars of one run directory.

    ``resumed_at``: the env step a resumed run continues from. The CSV is kept up to that
    step and appended to; rows the stopped run logged after it (it ran on past its last
    checkpoint) are dropped, since the resumed run logs those steps again."""

    FIELDS = ("env_steps", "updates", "wall_s", "steps_per_s", "eval_return", "eval_return_nfe_k",
              "train_episode_return") + CHUNK_METRICS

    def __init__(self, run_dir: str, resumed_at: int | None = None):
        os.makedirs(run_dir, exist_ok=True)
        path = os.path.join(run_dir, METRICS_FILE)
        kept = []
        if resumed_at is not None and os.path.exists(path):
            with open(path, newline="") as f:
                kept = [r for r in csv.DictReader(f) if int(r["env_steps"]) <= resumed_at]
        self.f = open(path, "w", newline="")
        self.w = csv.DictWriter(self.f, fieldnames=self.FIELDS)
        self.w.writeheader()
        self.w.writerows(kept)
        self.f.flush()
        try:
            from tensorboardX import SummaryWriter  # optional: the CSV is the record
            self.tb = SummaryWriter(os.path.join(run_dir, "tb"))
        except ImportError:
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


class RunDirRecorder:
    """The default :class:`Recorder`: a :class:`MetricsLogger` per run directory
    (``run_dirs[k]`` for the runs this process holds) and a tqdm progress bar over
    ``total`` env steps starting at ``initial``."""

    def __init__(self, run_dirs: dict, resume: bool, total: int, initial: int, progress: bool = True):
        self.loggers = {k: MetricsLogger(d, initial if resume else None) for k, d in run_dirs.items()}
        self.bar = tqdm(total=total, initial=initial, unit="step", unit_scale=True, disable=not progress,
                        dynamic_ncols=True, desc="env steps")

    def chunk(self, env_steps: int, updates: int, rate: float, metrics: dict) -> None:
        for k, lg in self.loggers.items():
            row = {"env_steps": env_steps, "updates": updates, "wall_s": time.time(), "steps_per_s": rate}
            for name in CHUNK_METRICS:
                if name in metrics[k]:
                    row[name] = float(np.mean(metrics[k][name]))
            ret = np.asarray(metrics[k]["episode_return"])
            if np.isfinite(ret).any():
                row["train_episode_return"] = float(np.nanmean(ret))
            lg.log(row)
        self.bar.update(env_steps - self.bar.n)

    def evaluation(self, env_steps: int, updates: int, returns: dict, eval_nfe: int) -> None:
        other = [n for n in returns if n != eval_nfe]
        for k, lg in self.loggers.items():
            row = {"env_steps": env_steps, "updates": updates, "wall_s": time.time(),
                   "eval_return": float(returns[eval_nfe][k])}
            if other:
                row["eval_return_nfe_k"] = float(returns[other[0]][k])
            lg.log(row)

    def progress(self, env_steps: int, latest: dict, best: dict) -> None:
        self.bar.set_postfix(eval=f"{np.mean(list(latest.values())):.1f}", best=f"{np.mean(list(best.values())):.1f}")

    def close(self) -> None:
        self.bar.close()
        for lg in self.loggers.values():
            lg.close()


@contextlib.contextmanager
def interrupt_after():
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
