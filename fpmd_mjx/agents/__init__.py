"""Algorithm registry: one table, variants by ``functools.partial``."""
from __future__ import annotations

import functools

from fpmd_mjx.agents.base import Agent
from fpmd_mjx.agents.dpmd import make_dpmd
from fpmd_mjx.agents.fpmd import make_fpmd
from fpmd_mjx.agents.sac import make_sac
from fpmd_mjx.agents.td3 import make_td3
from fpmd_mjx.ppo import make_ppo_agent

REGISTRY = {
    "fpmd_r": functools.partial(make_fpmd, variant="r"),
    "fpmd_m": functools.partial(make_fpmd, variant="m"),
    "sac": make_sac,
    "dpmd": make_dpmd,
    "td3": make_td3,
    "ppo": make_ppo_agent,  # acting / evaluation only: PPO trains with brax's loop (fpmd_mjx.ppo)
}


def names() -> tuple[str, ...]:
    return tuple(REGISTRY)


def make_agent(cfg, obs_dim: int, act_dim: int) -> Agent:
    """Build ``cfg.algo`` for the given observation / action sizes."""
    if cfg.algo not in REGISTRY:
        raise ValueError(f"unknown algo {cfg.algo!r}; valid algos: {', '.join(REGISTRY)}")
    return REGISTRY[cfg.algo](cfg, obs_dim, act_dim)
