"""PPO (Schulman et al. 2017, "Proximal Policy Optimization Algorithms") as pure functions.

Recipe: the PPO paper's MuJoCo settings (section 6.1, Table 3) with the implementation
details of CleanRL's ``ppo_continuous_action.py`` as catalogued in Huang et al. 2022,
"The 37 Implementation Details of Proximal Policy Optimization" (ICLR blog track):

* separate policy and value MLPs (``hidden_sizes`` / ``ppo_value_hidden_sizes``,
  ``activation``), orthogonal weights with gain sqrt(2) in the hidden layers, 0.01 on the
  policy output, 1.0 on the value output, zero biases;
* a Gaussian policy with a state-independent log-std parameter initialised to 0; actions
  are sampled unbounded and clipped to [-1, 1] only when sent to the env (the log-prob is
  of the unclipped sample); evaluation acts with the mean, clipped;
* observations normalised by a running mean / variance (clipped to +-10, eps 1e-8),
  updated from each rollout's observations after the epochs over it (so the rollout's
  log-probs and values stay those of the policy that acted: the first epoch's ratio is 1);
* optionally (``ppo_normalize_rewards``) rewards divided by the running std of a per-env
  discounted return that restarts at episode ends, clipped to +-10; times ``reward_scale``;
* GAE (Schulman et al. 2016, Eq. 16) with time limits handled (:func:`gae`);
* ``ppo_updates_per_batch`` epochs of ``ppo_num_minibatches`` shuffled minibatches,
  advantages normalised per minibatch, the clipped surrogate (PPO paper Eq. 7), the value
  loss 0.5 (V - R)^2 optionally clipped around the rollout's values, an entropy bonus:
  loss = L_clip - ppo_entropy_cost * H + ppo_value_coef * L_V;
* one Adam (eps 1e-5) over both networks, gradients clipped to global norm ``grad_clip``
  (0: none), the learning rate ``actor_lr`` falling linearly to 0 over the run's PPO
  updates when ``ppo_anneal_lr`` (constant within one update, as CleanRL's).

Written here rather than taken from a library: brax's PPO is a whole training loop
(``brax.training``, which needs jax < 0.9) and rejax's owns its environment loop, while the
project's loop owns the env, the run axis and the run directory, so only the algorithm's
pieces are needed; the layers are flax's and the optimiser optax's.
"""
from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct

from fpmd_mjx.agents.base import Agent
from fpmd_mjx.networks import ACTIVATIONS

OBS_CLIP, REWARD_CLIP, NORM_EPS = 10.0, 10.0, 1e-8


# ---- running statistics (observation and return normalisers) -------------------------

@struct.dataclass
class RunningStats:
    count: jax.Array  # () float32: samples seen
    mean: jax.Array  # feature shape
    var: jax.Array  # feature shape (population variance)


def normalizer_init(shape: Sequence[int] = ()) -> RunningStats:
    """Statistics of nothing seen yet: mean 0, var 1 (normalisation is the identity)."""
    return RunningStats(count=jnp.zeros((), jnp.float32), mean=jnp.zeros(shape, jnp.float32),
                        var=jnp.ones(shape, jnp.float32))


def normalizer_update(stats: RunningStats, x: jax.Array) -> RunningStats:
    """Merge a batch ``x`` (n, *shape) into ``stats`` (Chan et al.'s parallel mean / variance):
    the result is the mean and variance of every sample seen."""
    n = jnp.asarray(x.shape[0], jnp.float32)
    b_mean, b_var = x.mean(0), x.var(0)
    total = stats.count + n
    delta = b_mean - stats.mean
    mean = stats.mean + delta * n / total
    m2 = stats.var * stats.count + b_var * n + delta ** 2 * stats.count * n / total
    return RunningStats(count=total, mean=mean, var=m2 / total)


def normalize(stats: RunningStats, x: jax.Array, clip: float = OBS_CLIP) -> jax.Array:
    """(x - mean) / sqrt(var + 1e-8), clipped to +-clip; x (..., *shape)."""
    return jnp.clip((x - stats.mean) / jnp.sqrt(stats.var + NORM_EPS), -clip, clip)


# ---- networks ------------------------------------------------------------------------

class OrthoMLP(nn.Module):
    """MLP with orthogonal weights (gain sqrt(2) hidden, ``out_gain`` output) and zero biases
    (``networks.MLP`` keeps flax's default init)."""

    hidden_sizes: Sequence[int]
    out_dim: int
    activation: str
    out_gain: float

    @nn.compact
    def __call__(self, x):
        act, zeros = ACTIVATIONS[self.activation], nn.initializers.zeros
        for h in self.hidden_sizes:
            x = act(nn.Dense(h, kernel_init=nn.initializers.orthogonal(math.sqrt(2.0)), bias_init=zeros)(x))
        return nn.Dense(self.out_dim, kernel_init=nn.initializers.orthogonal(self.out_gain), bias_init=zeros)(x)


class GaussianPolicy(nn.Module):
    """obs (..., D) -> (mean (..., A), log_std (A,)): the log-std is a free parameter."""

    act_dim: int
    hidden_sizes: Sequence[int]
    activation: str

    @nn.compact
    def __call__(self, obs):
        mean = OrthoMLP(self.hidden_sizes, self.act_dim, self.activation, 0.01)(obs)
        return mean, self.param("log_std", nn.initializers.zeros, (self.act_dim,))


def gaussian_logp(x, mean, log_std):
    """log N(x; mean, exp(log_std)^2) summed over the last axis: (...,)."""
    return jnp.sum(-0.5 * ((x - mean) * jnp.exp(-log_std)) ** 2 - log_std - 0.5 * math.log(2 * math.pi), -1)


# ---- losses and advantages -------------------------------------------------------------

def clipped_surrogate(logp, old_logp, adv, eps):
    """PPO paper Eq. 7 as a loss: mean(max(-A r, -A clip(r, 1-eps, 1+eps))), r = exp(logp -
    old_logp); all (B,). Returns (loss, clip_fraction, approx_kl), approx_kl = mean((r-1) -
    log r) (Schulman's k3 estimator, CleanRL's)."""
    log_ratio = logp - old_logp
    ratio = jnp.exp(log_ratio)
    loss = jnp.maximum(-adv * ratio, -adv * jnp.clip(ratio, 1.0 - eps, 1.0 + eps)).mean()
    return loss, (jnp.abs(ratio - 1.0) > eps).mean(), ((ratio - 1.0) - log_ratio).mean()


def value_loss(v, old_v, returns, eps, clip: bool):
    """0.5 mean((V - R)^2), or with ``clip`` 0.5 mean(max((V - R)^2, (V_clip - R)^2)),
    V_clip = old_V + clip(V - old_V, -eps, eps); all (B,)."""
    err = (v - returns) ** 2
    if clip:
        err = jnp.maximum(err, (old_v + jnp.clip(v - old_v, -eps, eps) - returns) ** 2)
    return 0.5 * err.mean()


def gae(rewards, values, next_values, terminated, done, gamma, lam):
    """Generalised advantage estimates (Schulman et al. 2016, Eq. 16) of a rollout, all (T, N):
    delta_t = r_t + gamma (1 - terminated_t) V(s'_t) - V(s_t) with s'_t the true next state
    (``final_obs``: a truncated step bootstraps from it, a terminated one does not), and
    A_t = delta_t + gamma lam (1 - done_t) A_{t+1} (never across an episode boundary).
    Returns (advantages, returns = advantages + values), each (T, N)."""
    deltas = rewards + gamma * (1.0 - terminated) * next_values - values

    def back(a_next, xs):
        delta, d = xs
        a = delta + gamma * lam * (1.0 - d) * a_next
        return a, a

    _, adv = jax.lax.scan(back, jnp.zeros_like(values[0]), (deltas, done), reverse=True)
    return adv, adv + values


# ---- the agent ---------------------------------------------------------------------------

@struct.dataclass
class PPOState:
    policy: Any
    value: Any
    opt_state: Any  # one Adam over {"policy", "value"}
    obs_norm: RunningStats
    reward_norm: RunningStats  # of the per-env discounted returns (scalar statistics)
    step: jax.Array  # PPO updates taken (int32)


class PPO(NamedTuple):
    """The agent plus what the on-policy loop needs beyond it.

    act(state, obs (N, D), key) -> (env_action (N, A) in [-1, 1], raw_action (N, A), logp (N,), value (N,))
    value(state, obs (..., D)) -> (...,)
    scale_rewards(state, rewards (T, N), disc_returns (T, N)) -> (state, scaled rewards (T, N))
    learning_rate(state) -> () the learning rate of the state's next update
    """

    agent: Agent
    act: Callable
    value: Callable
    scale_rewards: Callable
    learning_rate: Callable


def ppo_updates(cfg) -> int:
    """PPO updates of the run: ``total_steps / (num_envs * ppo_unroll_length)`` (a whole
    number: the config checks it)."""
    return cfg.total_steps // cfg.ppo_steps_per_update


def make_optimizer(cfg):
    """(Adam with eps 1e-5 and optional global-norm clip, schedule: optimiser step -> lr)."""
    steps_per_update = cfg.ppo_updates_per_batch * cfg.ppo_num_minibatches
    if cfg.ppo_anneal_lr:
        per_update = optax.linear_schedule(cfg.actor_lr, 0.0, ppo_updates(cfg))
        schedule = lambda count: per_update(count // steps_per_update)  # noqa: E731
    else:
        schedule = optax.constant_schedule(cfg.actor_lr)
    opt = optax.adam(schedule, eps=1e-5)
    if cfg.grad_clip > 0:
        opt = optax.chain(optax.clip_by_global_norm(cfg.grad_clip), opt)
    return opt, schedule


def make_ppo(cfg, obs_dim: int, act_dim: int) -> PPO:
    """Build PPO's networks and optimiser for ``cfg`` (see the module docstring; the config
    has checked that the budget and the rollout split into whole updates and minibatches)."""
    pnet = GaussianPolicy(act_dim, tuple(cfg.hidden_sizes), cfg.activation)
    vnet = OrthoMLP(tuple(cfg.ppo_value_hidden_sizes), 1, cfg.activation, 1.0)
    opt, schedule = make_optimizer(cfg)
    steps_per_update = cfg.ppo_updates_per_batch * cfg.ppo_num_minibatches

    def init(key):
        kp, kv = jax.random.split(key)
        policy, value = pnet.init(kp, jnp.zeros((1, obs_dim))), vnet.init(kv, jnp.zeros((1, obs_dim)))
        return PPOState(policy=policy, value=value, opt_state=opt.init({"policy": policy, "value": value}),
                        obs_norm=normalizer_init((obs_dim,)), reward_norm=normalizer_init(),
                        step=jnp.zeros((), jnp.int32))

    def value(state, obs):
        return vnet.apply(state.value, normalize(state.obs_norm, obs))[..., 0]

    def act(state, obs, key):
        mean, log_std = pnet.apply(state.policy, normalize(state.obs_norm, obs))
        raw = mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape)
        return jnp.clip(raw, -1.0, 1.0), raw, gaussian_logp(raw, mean, log_std), value(state, obs)

    def sample(params, obs, key, nfe=1):
        del key, nfe  # the mean action: one network evaluation
        obs_norm, policy = params
        return jnp.clip(pnet.apply(policy, normalize(obs_norm, obs))[0], -1.0, 1.0)

    def scale_rewards(state, rewards, disc_returns):
        if not cfg.ppo_normalize_rewards:
            return state, rewards * cfg.reward_scale
        stats = normalizer_update(state.reward_norm, disc_returns.reshape(-1))
        scaled = jnp.clip(rewards / jnp.sqrt(stats.var + NORM_EPS), -REWARD_CLIP, REWARD_CLIP)
        return state.replace(reward_norm=stats), scaled * cfg.reward_scale

    update = _make_update(cfg, pnet, vnet, opt)
    agent = Agent(init=init, explore=lambda s, o, k: act(s, o, k)[0], policy_params=lambda s: (s.obs_norm, s.policy),
                  sample=sample, update=update, eval_nfe=1)
    return PPO(agent=agent, act=act, value=value, scale_rewards=scale_rewards,
               learning_rate=lambda s: schedule(s.step * steps_per_update))


def _make_update(cfg, pnet, vnet, opt):
    """``update(state, rollout, key) -> (state, metrics)``: the epochs over one rollout, then
    the observation normaliser takes in the rollout's observations.

    rollout: dict of (T, N, ...) arrays ``obs`` (raw), ``action`` (raw, unclipped), ``logp``,
    ``value``, ``advantage``, ``return``. Metrics: means over every minibatch step of
    actor_loss, critic_loss, entropy, approx_kl, clip_fraction; policy_std."""
    num_mb = cfg.ppo_num_minibatches

    def loss_fn(params, mb):
        mean, log_std = pnet.apply(params["policy"], mb["obs"])
        logp = gaussian_logp(mb["action"], mean, log_std)
        adv = (mb["advantage"] - mb["advantage"].mean()) / (mb["advantage"].std() + 1e-8)
        pg, clip_frac, kl = clipped_surrogate(logp, mb["logp"], adv, cfg.ppo_clipping_epsilon)
        v = vnet.apply(params["value"], mb["obs"])[..., 0]
        v_loss = value_loss(v, mb["value"], mb["return"], cfg.ppo_clipping_epsilon, cfg.ppo_clip_value)
        entropy = jnp.sum(log_std + 0.5 * math.log(2 * math.pi * math.e))
        loss = pg - cfg.ppo_entropy_cost * entropy + cfg.ppo_value_coef * v_loss
        return loss, {"actor_loss": pg, "critic_loss": v_loss, "entropy": entropy, "approx_kl": kl,
                      "clip_fraction": clip_frac}

    def sgd_step(carry, mb):
        params, opt_state = carry
        grads, metrics = jax.grad(loss_fn, has_aux=True)(params, mb)
        upd, opt_state = opt.update(grads, opt_state, params)
        return (optax.apply_updates(params, upd), opt_state), metrics

    def update(state, rollout, key):
        flat = {k: rollout[k].reshape((-1,) + rollout[k].shape[2:])
                for k in ("obs", "action", "logp", "value", "advantage", "return")}
        flat["obs"] = normalize(state.obs_norm, flat["obs"])
        n = flat["logp"].shape[0]

        def epoch(carry, k):
            perm = jax.random.permutation(k, n)
            mbs = jax.tree.map(lambda x: x[perm].reshape((num_mb, n // num_mb) + x.shape[1:]), flat)
            return jax.lax.scan(sgd_step, carry, mbs)

        params = {"policy": state.policy, "value": state.value}
        (params, opt_state), m = jax.lax.scan(epoch, (params, state.opt_state),
                                              jax.random.split(key, cfg.ppo_updates_per_batch))
        metrics = jax.tree.map(jnp.mean, m)
        metrics["policy_std"] = jnp.exp(params["policy"]["params"]["log_std"]).mean()
        obs_norm = normalizer_update(state.obs_norm, rollout["obs"].reshape((n,) + rollout["obs"].shape[2:]))
        return state.replace(policy=params["policy"], value=params["value"], opt_state=opt_state,
                             obs_norm=obs_norm, step=state.step + 1), metrics

    return update
