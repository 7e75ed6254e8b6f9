"""The algorithm table: one row per algorithm, what builds it, which loop trains it and what
it supports. Config validation, the loops, sweeps and the CLIs read it."""
from __future__ import annotations

import dataclasses
import functools
from typing import Callable

from fpmd_mjx.agents.base import Agent
from fpmd_mjx.agents.dpmd import make_dpmd
from fpmd_mjx.agents.fpmd import make_fpmd
from fpmd_mjx.agents.ppo import make_ppo
from fpmd_mjx.agents.sac import make_sac
from fpmd_mjx.agents.td3 import make_td3


@dataclasses.dataclass(frozen=True)
class Algorithm:
    """One row of the table.

    factory(cfg, obs_dim, act_dim) -> Agent; loop: "off_policy" (fpmd_mjx.offpolicy: warm-up,
    replay buffer, updates per vector step) or "on_policy" (fpmd_mjx.onpolicy: rollouts of
    ``ppo_unroll_length`` steps, epochs); best_of_n: it ranks ``num_particles`` candidates by
    its critic, so ``eval_rule: best_of_n`` applies; nfes: which NFEs the runner evaluates
    ("eval": the agent's own; "eval_and_train": also ``flow_steps``, FPMD-R's training NFE);
    data_parallel: ``devices > 1`` splits one run over several devices."""

    factory: Callable[..., Agent]
    loop: str
    best_of_n: bool = False
    nfes: str = "eval"
    data_parallel: bool = True


def _ppo_agent(cfg, obs_dim: int, act_dim: int) -> Agent:
    return make_ppo(cfg, obs_dim, act_dim).agent


ALGORITHMS = {
    "fpmd_r": Algorithm(functools.partial(make_fpmd, variant="r"), "off_policy", best_of_n=True,
                        nfes="eval_and_train"),
    "fpmd_m": Algorithm(functools.partial(make_fpmd, variant="m"), "off_policy", best_of_n=True),
    "sac": Algorithm(make_sac, "off_policy"),
    "dpmd": Algorithm(make_dpmd, "off_policy", best_of_n=True),
    "td3": Algorithm(make_td3, "off_policy"),
    "ppo": Algorithm(_ppo_agent, "on_policy", data_parallel=False),
}


def names() -> tuple[str, ...]:
    return tuple(ALGORITHMS)


def make_agent(cfg, obs_dim: int, act_dim: int) -> Agent:
    """Build ``cfg.algo`` for the given observation / action sizes."""
    if cfg.algo not in ALGORITHMS:
        raise ValueError(f"unknown algo {cfg.algo!r}; valid algos: {', '.join(ALGORITHMS)}")
    return ALGORITHMS[cfg.algo].factory(cfg, obs_dim, act_dim)
