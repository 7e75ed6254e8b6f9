"""Typed, frozen training configuration.

A ``Config`` is built from ``configs/<algo>.yaml`` (a ``defaults`` block plus a
``tasks`` block of per-task overrides) and then from command-line overrides
(``--set actor_lr=1e-4``). Unknown keys and bad values are rejected with a
one-line ``ConfigError`` that names the key, the value and the valid choices.

Units: every ``*_steps`` field counts **environment steps** summed over the
parallel envs; ``*_updates`` fields and ``alpha_update_every`` count gradient
updates of the critic. ``total_steps`` is every env step the run takes, the
``warmup_steps`` of uniform-random acting included: a run takes
``(total_steps - warmup_steps) / num_envs * updates_per_step`` updates
(:attr:`Config.updates`). The paper's "200K iterations with 1M environment steps"
counts, as the released code does, only the steps after its 30k-step warm-up, so the
paper configs set ``total_steps: 1030000`` (200,000 updates; Humanoid 5,030,000 for
1,000,000). ``metrics.csv`` and checkpoints record both ``env_steps`` (all) and
``updates``.
"""
from __future__ import annotations

import dataclasses
import os
import typing
from typing import Any, Mapping

import yaml

from fpmd_mjx import envs
from fpmd_mjx.envs import foreign
from fpmd_mjx.agents import ALGORITHMS


def _config_dir() -> str:
    """Where ``<algo>.yaml`` live: the copy a wheel installs beside this module
    (``fpmd_mjx/configs``), else the checkout's top-level ``configs/`` (an editable install)."""
    here = os.path.dirname(os.path.abspath(__file__))
    installed = os.path.join(here, "configs")
    return installed if os.path.isdir(installed) else os.path.join(os.path.dirname(here), "configs")


CONFIG_DIR = _config_dir()

ALGOS = tuple(ALGORITHMS)
WEIGHTINGS = ("paper", "per_state", "authors")
TIME_EMBEDDINGS = ("scaled", "authors")
EVAL_RULES = ("sample", "best_of_n")
BEST_OF_N_ALGOS = tuple(a for a, row in ALGORITHMS.items() if row.best_of_n)  # a critic-ranked candidate set


class ConfigError(ValueError):
    """A bad configuration key or value (message is one line)."""


# How the fields of a Config split runs into programs (fpmd_mjx.runner, scripts/sweep.py):
#
# * LOOP_FIELDS steer only the Python loop between compiled chunks: runs that differ in
#   nothing else share one set of compiled programs.
# * GRID_FIELDS are floats that enter the math only as numbers (never a shape, a Python
#   branch or a loop length): the runs of one program may each have their own value
#   (``--grid lam=0.5,1,2``), traced on the vmapped run axis.
# * Every other field (sizes, counts, ``num_particles``, ``num_envs``, ``flow_steps``,
#   switches such as ``weighting`` or ``grad_clip``) changes the program itself: runs
#   that differ in one compile separately.
LOOP_FIELDS = ("total_steps", "eval_every", "checkpoint_every", "keep_checkpoints", "seed")
GRID_FIELDS = ("lam", "actor_lr", "actor_lr_final", "critic_lr", "noise_scale", "tau", "reward_scale",
               "gamma", "prior_scale", "train_prior_scale", "alpha_lr", "q_stats_rate",
               "target_entropy_scale", "td3_explore_noise", "td3_policy_noise", "td3_noise_clip")


@dataclasses.dataclass(frozen=True)
class Config:
    """All hyperparameters of one training run (see configs/*.yaml for the paper's values)."""

    env: str = "inverted_pendulum"  # task name (fpmd_mjx.envs.names() or a Gymnasium id), or brax:NAME,
    # or custom:NAME (an environment of your own, passed as make_train(cfg, env=...))
    # for environments brought from elsewhere only (fpmd_mjx.envs.foreign; None: the env's own or the default):
    episode_length: int | None = None  # time limit in env steps
    action_low: float | None = None  # action range, the same for every dimension
    action_high: float | None = None
    physics_profile: str = "faithful"  # MJX solver profile (fpmd_mjx.envs.PROFILES; docs/speed.md "Physics profiles")
    physics: str = "jax"  # MJX backend: jax | warp (MuJoCo Warp, the optional `warp` extra; docs/speed.md "Physics backends")
    algo: str = "fpmd_r"  # one of ALGOS
    seed: int = 0
    # budget and loop shape
    total_steps: int = 1_030_000  # all env steps of the run, summed over num_envs, warm-up included
    warmup_steps: int = 30_000  # uniform-random env steps before learning starts
    num_envs: int = 5  # parallel envs stepped per iteration
    updates_per_step: int = 1  # gradient updates per vector env step
    chunk_iterations: int = 1000  # iterations per compiled scan chunk in the CLI
    devices: int = 1  # data parallel: one run's envs and update batches split over this many local devices
    # networks
    hidden_sizes: tuple = (256, 256, 256)
    activation: str = "mish"
    time_embed_dim: int = 16
    time_embedding: str = "scaled"  # one of TIME_EMBEDDINGS (see networks.sinusoidal)
    # optimisation
    batch_size: int = 256
    buffer_size: int = 1_000_000
    critic_lr: float = 3e-4
    actor_lr: float = 3e-4
    actor_lr_final: float = 3e-5
    actor_lr_decay_begin: int = 50_000  # updates
    actor_lr_decay_end: int = 150_000  # updates
    gamma: float = 0.99
    tau: float = 0.005
    policy_delay: int = 2  # actor, EMA policy and target critics step every k-th update
    reward_scale: float = 0.2
    grad_clip: float = 0.0  # global-norm clip; 0 disables
    critic_double_step: bool = False  # apply each critic gradient twice (the authors' code does)
    # flow policy (FPMD-R / FPMD-M / DPMD)
    flow_steps: int = 20  # Euler steps (FPMD-R) / diffusion steps (DPMD) when acting and in targets
    eval_flow_steps: int = 1  # NFE at evaluation (FPMD-R); FPMD-M always uses 1
    flow_grid_power: float = 1.0  # FPMD-R's Euler grid t_k = 1 - (1 - k/K)^power; 1: uniform (the paper)
    num_particles: int = 32  # best-of-N candidates, Eq. (18)
    prior_scale: float = 0.5  # a_0 ~ prior_scale * N(0, I) when sampling
    train_prior_scale: float = 1.0  # a_0 ~ train_prior_scale * N(0, I) in the flow losses
    # mirror-descent weights exp(Q / lambda), Eq. (8) / (16)
    weighting: str = "paper"  # one of WEIGHTINGS
    lam: float = 1.0  # lambda, in units of the running std of Q (times alpha if lam_follows_alpha)
    lam_follows_alpha: bool = True
    q_stats_rate: float = 0.005  # EMA rate of the running Q mean / std, per update (authors: 0.001)
    # exploration noise: std = noise_scale * alpha, alpha learned towards a target entropy
    noise_scale: float = 0.1
    alpha_init: float = 5.0
    alpha_lr: float = 7e-3
    alpha_update_every: int = 250  # updates
    target_entropy_scale: float = -1.5  # target entropy = scale * act_dim
    clip_after_noise: bool = True  # clip the noisy action to [-1, 1] (authors: no clip; the env clips)
    # SAC
    sac_init_alpha: float = 1.0  # initial entropy temperature (authors: log alpha = 1, alpha = e)
    sac_log_std_min: float = -5.0  # actor log-std bounds (authors: -20, 0.5)
    sac_log_std_max: float = 2.0
    sac_tanh_logprob: bool = True  # include the tanh change-of-variables term in log pi (authors: no)
    # TD3 (noise stds in normalised action units, [-1, 1])
    td3_explore_noise: float = 0.1  # exploration: pi(s) + N(0, std^2)
    td3_policy_noise: float = 0.2  # target policy smoothing std
    td3_noise_clip: float = 0.5  # target policy smoothing clip
    # PPO (fpmd_mjx.onpolicy / agents.ppo: one update = a rollout of ppo_unroll_length vector
    # steps of num_envs envs, then ppo_updates_per_batch epochs of ppo_num_minibatches
    # minibatches; actor_lr is the learning rate, hidden_sizes the policy's; batch_size unused)
    ppo_unroll_length: int = 5
    ppo_num_minibatches: int = 32
    ppo_updates_per_batch: int = 4
    ppo_entropy_cost: float = 1e-2
    ppo_clipping_epsilon: float = 0.3
    ppo_gae_lambda: float = 0.95
    ppo_value_hidden_sizes: tuple = (256, 256, 256, 256, 256)
    ppo_value_coef: float = 0.5  # weight of the value loss
    ppo_clip_value: bool = True  # clip the value update to +-ppo_clipping_epsilon around the rollout's values
    ppo_normalize_rewards: bool = True  # divide rewards by a running std of the discounted return
    ppo_anneal_lr: bool = True  # learning rate falls linearly to 0 over the run
    # evaluation / logging / checkpoints (CLI)
    eval_every: int = 25_000  # env steps
    eval_episodes: int = 10
    # the rule the run's evaluation returns and best/ selection use (Table 1's rule per algorithm):
    # sample = one sample of the evaluation policy at its NFE, no noise (FPMD-R/M; SAC's and PPO's
    # mean action, TD3's deterministic action); best_of_n = the best of num_particles samples by
    # min(Q1, Q2), no noise (the released code's "deterministic" DPMD/SDAC policy)
    eval_rule: str = "sample"
    checkpoint_every: int = 50_000  # env steps
    keep_checkpoints: int = 3

    def __post_init__(self):
        _validate(self)

    # ---- derived values -------------------------------------------------
    @property
    def warmup_iterations(self) -> int:
        return -(-self.warmup_steps // self.num_envs)

    @property
    def total_iterations(self) -> int:
        return -(-self.total_steps // self.num_envs)

    @property
    def ppo_steps_per_update(self) -> int:
        """Env steps of one PPO update: a rollout of ``ppo_unroll_length`` steps of every env."""
        return self.num_envs * self.ppo_unroll_length

    @property
    def learn_iterations(self) -> int:
        return max(self.total_iterations - self.warmup_iterations, 0)

    @property
    def run_name(self) -> str:
        """``<env>-<algo>``, a directory name (``brax:ant`` -> ``brax_ant``)."""
        return f"{self.env.replace(':', '_')}-{self.algo}"

    @property
    def updates(self) -> int:
        """Gradient updates of the whole run: ``updates_per_step`` per learning iteration
        after the warm-up (PPO: minibatch steps, ``ppo_num_minibatches`` x
        ``ppo_updates_per_batch`` per PPO step)."""
        return self.updates_at(self.total_steps)

    def updates_at(self, env_steps: int) -> int:
        """Gradient updates taken by the time the run has taken ``env_steps`` env steps."""
        if ALGORITHMS[self.algo].loop == "on_policy":
            return env_steps // self.ppo_steps_per_update * self.ppo_num_minibatches * self.ppo_updates_per_batch
        return max(-(-env_steps // self.num_envs) - self.warmup_iterations, 0) * self.updates_per_step

    def replace(self, **kw) -> "Config":
        return from_dict({**dataclasses.asdict(self), **kw})

    def traced(self, **values) -> "Config":
        """A copy with ``values`` (GRID_FIELDS only) set as they are, unvalidated: the
        per-run hyperparameters of a sweep, JAX tracers inside a compiled program.
        Validate concrete values with :meth:`replace` first."""
        bad = sorted(set(values) - set(GRID_FIELDS))
        if bad:
            raise ConfigError(f"not a grid field: {bad}; valid: {', '.join(GRID_FIELDS)}")
        out = object.__new__(Config)
        for f in FIELDS:
            object.__setattr__(out, f, values.get(f, getattr(self, f)))
        return out

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["hidden_sizes"] = list(self.hidden_sizes)
        d["ppo_value_hidden_sizes"] = list(self.ppo_value_hidden_sizes)
        return d


FIELDS = {f.name: f for f in dataclasses.fields(Config)}
_HINTS = typing.get_type_hints(Config)
_POSITIVE = {
    "total_steps", "num_envs", "updates_per_step", "chunk_iterations", "devices", "batch_size", "buffer_size",
    "flow_steps", "eval_flow_steps", "flow_grid_power", "num_particles", "policy_delay", "alpha_update_every",
    "eval_every", "eval_episodes", "checkpoint_every", "keep_checkpoints", "time_embed_dim",
    "critic_lr", "actor_lr", "actor_lr_final", "lam", "alpha_init", "prior_scale", "train_prior_scale",
    "ppo_unroll_length", "ppo_num_minibatches", "ppo_updates_per_batch", "ppo_clipping_epsilon",
    "sac_init_alpha",
}


def _validate(cfg: Config) -> None:
    try:
        if foreign.is_foreign(cfg.env):
            source, _ = foreign.split(foreign.check_name(cfg.env))
            if source == "playground":
                envs.base.check_physics(cfg.physics)
            elif cfg.physics != "jax":
                raise ValueError(f"physics={cfg.physics!r} chooses the MJX backend of the project's tasks and "
                                 f"Playground's; {cfg.env} steps with its own (use physics=jax)")
        else:
            envs.canonical_name(cfg.env)
            envs.base.check_physics(cfg.physics, envs.spec(cfg.env))
        envs.base.check_profile(cfg.physics_profile)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    own = {f: getattr(cfg, f) for f in ("episode_length", "action_low", "action_high") if getattr(cfg, f) is not None}
    if own and not foreign.is_foreign(cfg.env):
        raise ConfigError(f"{', '.join(own)} {'applies' if len(own) == 1 else 'apply'} to environments brought from elsewhere (brax:, playground:, custom:)"
                          f"; the task {cfg.env!r} keeps Gymnasium v4's time limit and action range")
    if cfg.episode_length is not None and cfg.episode_length < 1:
        raise ConfigError(f"episode_length must be >= 1, got {cfg.episode_length}")
    if cfg.algo not in ALGOS:
        raise ConfigError(f"unknown algo {cfg.algo!r}; valid algos: {', '.join(ALGOS)}")
    if cfg.time_embedding not in TIME_EMBEDDINGS:
        raise ConfigError(f"unknown time_embedding {cfg.time_embedding!r}; valid: {', '.join(TIME_EMBEDDINGS)}")
    if not 0.0 < cfg.q_stats_rate <= 1.0:
        raise ConfigError(f"q_stats_rate must be in (0, 1], got {cfg.q_stats_rate}")
    if cfg.eval_rule not in EVAL_RULES:
        raise ConfigError(f"unknown eval_rule {cfg.eval_rule!r}; valid: {', '.join(EVAL_RULES)}")
    if cfg.eval_rule == "best_of_n" and cfg.algo not in BEST_OF_N_ALGOS:
        raise ConfigError(f"eval_rule best_of_n: algo {cfg.algo!r} has no best-of-N rule; "
                          f"valid algos: {', '.join(BEST_OF_N_ALGOS)}")
    if cfg.sac_log_std_min >= cfg.sac_log_std_max:
        raise ConfigError(f"sac_log_std_min must be < sac_log_std_max, got {cfg.sac_log_std_min} and "
                          f"{cfg.sac_log_std_max}")
    if cfg.weighting not in WEIGHTINGS:
        raise ConfigError(f"unknown weighting {cfg.weighting!r}; valid: {', '.join(WEIGHTINGS)}")
    if cfg.activation not in ("mish", "relu", "gelu", "tanh", "silu"):
        raise ConfigError(f"unknown activation {cfg.activation!r}; valid: mish, relu, gelu, tanh, silu")
    for name in _POSITIVE:
        if getattr(cfg, name) <= 0:
            raise ConfigError(f"{name} must be > 0, got {getattr(cfg, name)!r}")
    if not 0.0 < cfg.gamma <= 1.0 or not 0.0 < cfg.tau <= 1.0:
        raise ConfigError(f"gamma and tau must be in (0, 1], got gamma={cfg.gamma}, tau={cfg.tau}")
    if cfg.warmup_steps < 0 or cfg.warmup_steps > cfg.total_steps:
        raise ConfigError(f"warmup_steps must be in [0, total_steps={cfg.total_steps}], got {cfg.warmup_steps}")
    if cfg.devices > 1 and (cfg.num_envs % cfg.devices or cfg.batch_size % cfg.devices):
        raise ConfigError(f"devices={cfg.devices}: num_envs={cfg.num_envs} and batch_size={cfg.batch_size} must "
                          f"both be multiples of it (each device takes an equal share)")
    if cfg.devices > 1 and not ALGORITHMS[cfg.algo].data_parallel:
        raise ConfigError(f"devices={cfg.devices}: {cfg.algo} trains one run on one device (valid: devices=1); "
                          f"put several runs on several devices with scripts/sweep.py")
    if cfg.buffer_size < cfg.num_envs:
        raise ConfigError(f"buffer_size must be >= num_envs={cfg.num_envs}, got {cfg.buffer_size}")
    if ALGORITHMS[cfg.algo].loop == "on_policy":
        _validate_on_policy(cfg)
    if not 0.0 <= cfg.ppo_gae_lambda <= 1.0 or cfg.ppo_entropy_cost < 0:
        raise ConfigError(f"ppo_gae_lambda must be in [0, 1] and ppo_entropy_cost >= 0, got "
                          f"{cfg.ppo_gae_lambda} and {cfg.ppo_entropy_cost}")
    for name in ("td3_explore_noise", "td3_policy_noise", "td3_noise_clip"):
        if getattr(cfg, name) < 0:
            raise ConfigError(f"{name} must be >= 0, got {getattr(cfg, name)!r}")
    for name in ("hidden_sizes", "ppo_value_hidden_sizes"):
        sizes = getattr(cfg, name)
        if not sizes or any(int(h) <= 0 for h in sizes):
            raise ConfigError(f"{name} must be positive ints, got {sizes!r}")


def _validate_on_policy(cfg: Config) -> None:
    """PPO trains in whole updates of ``num_envs * ppo_unroll_length`` env steps, without a warm-up."""
    step = cfg.ppo_steps_per_update
    if cfg.warmup_steps:
        raise ConfigError(f"{cfg.algo} has no warm-up: warmup_steps must be 0, got {cfg.warmup_steps}")
    if cfg.total_steps % step:
        lo, hi = cfg.total_steps // step * step, -(-cfg.total_steps // step) * step
        raise ConfigError(f"{cfg.algo}: total_steps={cfg.total_steps} must be a multiple of num_envs * "
                          f"ppo_unroll_length = {step} (whole PPO updates); e.g. {lo or hi} or {hi}")
    if cfg.chunk_iterations % cfg.ppo_unroll_length:
        raise ConfigError(f"{cfg.algo}: chunk_iterations={cfg.chunk_iterations} must be a multiple of "
                          f"ppo_unroll_length={cfg.ppo_unroll_length} (a chunk is whole PPO updates)")
    if cfg.num_envs * cfg.ppo_unroll_length % cfg.ppo_num_minibatches:
        raise ConfigError(f"{cfg.algo}: num_envs * ppo_unroll_length = {step} must be a multiple of "
                          f"ppo_num_minibatches={cfg.ppo_num_minibatches} (equal minibatches)")


def _coerce(key: str, value: Any) -> Any:
    """Convert ``value`` (YAML-parsed or a CLI string) to the declared type of ``key``."""
    if key not in FIELDS:
        raise ConfigError(f"unknown config key {key!r}; valid keys: {', '.join(sorted(FIELDS))}")
    hint = _HINTS[key]
    if isinstance(value, str) and hint is not str:
        value = yaml.safe_load(value)
    inner = [t for t in typing.get_args(hint) if t is not type(None)]
    if inner:  # an optional field (``int | None``): None, or a value of its type
        if value is None:
            return None
        hint = inner[0]
    try:
        if hint is bool:
            if not isinstance(value, bool):
                raise TypeError
            return value
        if hint is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise TypeError
            return int(value)
        if hint is float:
            if isinstance(value, bool):
                raise TypeError
            return float(value)
        if hint is tuple:
            seq = value if isinstance(value, (list, tuple)) else [value]
            return tuple(int(v) for v in seq)
        if hint is str:
            return str(value)
    except (TypeError, ValueError):
        pass
    else:
        return value
    raise ConfigError(f"bad value {value!r} for {key}: expected {hint.__name__}")


def from_dict(d: Mapping[str, Any]) -> Config:
    """Build a validated Config from a flat mapping (unknown keys rejected)."""
    return Config(**{k: _coerce(k, v) for k, v in d.items()})


def parse_overrides(items) -> dict:
    """``["lr=3e-4", "num_envs=8"]`` -> ``{"lr": "3e-4", ...}`` (values coerced later)."""
    out = {}
    for item in items or ():
        if "=" not in item:
            raise ConfigError(f"bad override {item!r}: expected KEY=VALUE")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def cli_overrides(overlay: str | None, sets, **flags) -> dict:
    """The overrides of a command line, in order: the ``--config`` YAML overlay (its flat keys,
    then its block for the task, see :func:`load_overlay`), the ``--set KEY=VALUE`` items, then
    every named flag that was given (not None), e.g. ``total_steps=args.steps``."""
    overrides = load_overlay(overlay) if overlay else {}
    later = parse_overrides(sets)
    later.update({k: v for k, v in flags.items() if v is not None})
    if "tasks" in overrides:  # the command line wins over the overlay's task blocks too
        overrides["tasks"] = {t: {k: v for k, v in block.items() if k not in later}
                              for t, block in overrides["tasks"].items()}
    overrides.update(later)
    return overrides


def task_key(env: str) -> str:
    """The name a config file keys ``env``'s block by: a project task's canonical name, or a
    foreign environment (``brax:NAME``, ``playground:NAME``, ``custom:NAME``) as given."""
    try:
        return env if foreign.is_foreign(env) else envs.canonical_name(env)
    except ValueError as e:
        raise ConfigError(str(e)) from None


def load_overlay(path: str) -> dict:
    """A YAML file of flat config keys (validated when merged by ``load_config``), and
    optionally ``tasks:``, a block of flat keys per task that applies on that task only,
    after the flat keys: ``{..., "tasks": {task: {...}}}``."""
    if not os.path.isfile(path):
        raise ConfigError(f"config overlay {path!r} does not exist")
    with open(path) as f:
        try:
            doc = yaml.safe_load(f) or {}
        except yaml.YAMLError as e:
            where = getattr(e, "problem_mark", None)
            at = f" at line {where.line + 1}, column {where.column + 1}" if where else ""
            reason = getattr(e, "problem", None) or type(e).__name__
            raise ConfigError(f"config overlay {path!r} is not valid YAML{at}: {reason}") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"config overlay {path!r} must be a mapping of config keys")
    doc = dict(doc)
    if "tasks" in doc:
        tasks = doc["tasks"] or {}
        if not isinstance(tasks, dict) or not all(isinstance(b, dict) for b in tasks.values()):
            raise ConfigError(f"config overlay {path!r}: 'tasks' must map task names to mappings of config keys")
        try:
            doc["tasks"] = {task_key(t): dict(b) for t, b in tasks.items()}
        except ConfigError as e:
            raise ConfigError(f"config overlay {path!r}, tasks: {e}") from None
    return doc


def load_config(algo: str, env: str, overrides: Mapping[str, Any] | None = None,
                config_dir: str = CONFIG_DIR) -> Config:
    """Config for ``algo`` on ``env``: YAML defaults, then the task's block, then ``overrides``
    (flat keys, then their ``tasks`` block for this task, if any: :func:`cli_overrides`)."""
    if algo not in ALGOS:
        raise ConfigError(f"unknown algo {algo!r}; valid algos: {', '.join(ALGOS)}")
    task = task_key(env)
    with open(os.path.join(config_dir, f"{algo}.yaml")) as f:
        doc = yaml.safe_load(f) or {}
    bad = set(doc) - {"defaults", "tasks"}
    if bad:
        raise ConfigError(f"{algo}.yaml: unknown top-level keys {sorted(bad)}; valid: defaults, tasks")
    merged = dict(doc.get("defaults") or {})
    merged.update((doc.get("tasks") or {}).get(task) or {})
    overrides = dict(overrides or {})
    per_task = overrides.pop("tasks", None) or {}
    merged.update(overrides)
    merged.update(per_task.get(task) or {})
    merged.update(algo=algo, env=task)
    return from_dict(merged)
