"""FPMD-R (flow policy, Eq. 8) and FPMD-M (MeanFlow policy, Eq. 16).

Both are ``PolicyModel``s plugged into the shared policy-mirror-descent loop of
``pmd.make_pmd`` (Algorithm 1: best-of-N-plus-noise actions a' at the next
states give the TD target and the weighted flow-loss targets).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from fpmd_mjx import flows
from fpmd_mjx.agents.base import Agent
from fpmd_mjx.agents.pmd import PolicyModel, make_pmd
from fpmd_mjx.networks import MeanVelocityField, VelocityField


def flow_policy(cfg, act_dim: int) -> PolicyModel:
    """FPMD-R: v_theta(a_t, t | s), Euler sampling from a0 ~ prior_scale * N(0, I) on the grid
    ``flows.euler_grid(nfe, cfg.flow_grid_power)`` (uniform at power 1; one step is always [0, 1])."""
    net = VelocityField(act_dim=act_dim, hidden_sizes=cfg.hidden_sizes, activation=cfg.activation,
                        time_embed_dim=cfg.time_embed_dim, time_style=cfg.time_embedding)

    def init_params(key, obs_dim):
        return net.init(key, jnp.zeros((1, obs_dim)), jnp.zeros((1, act_dim)), jnp.zeros((1,)))

    def prepare(params, nfe):
        """The time embeddings of the ``nfe`` Euler times, computed once per call, not per sample: (nfe, E)."""
        return net.embed_times(params, flows.euler_times(nfe, cfg.flow_grid_power))

    def prepared_path(params, temb, obs, key, nfe, return_path=True):
        a0 = cfg.prior_scale * jax.random.normal(key, obs.shape[:-1] + (act_dim,))
        return flows.euler_sample(lambda a, t, e: net.apply(params, obs, a, t, temb=e), a0, nfe, return_path, temb,
                                  power=cfg.flow_grid_power)

    def path(params, obs, key, nfe, return_path=True):
        return prepared_path(params, prepare(params, nfe), obs, key, nfe, return_path)

    def sample_prepared(params, temb, obs, key, nfe):
        return jnp.clip(prepared_path(params, temb, obs, key, nfe, False), -1.0, 1.0)

    def sample(params, obs, key, nfe):
        return sample_prepared(params, prepare(params, nfe), obs, key, nfe)

    def loss(params, obs, a1, key):  # per-sample ||(a1 - a0) - v(a_t, t | s)||^2, Eq. (8)
        k0, kt = jax.random.split(key)
        a0 = cfg.train_prior_scale * jax.random.normal(k0, a1.shape)
        t = jax.random.uniform(kt, a1.shape[:-1])
        a_t, target = flows.flow_matching_pair(a0, a1, t)
        return jnp.sum((net.apply(params, obs, a_t, t) - target) ** 2, axis=-1)

    return PolicyModel(init_params=init_params, sample=sample, loss=loss, sample_path=path, prepare=prepare,
                       sample_prepared=sample_prepared)


def meanflow_policy(cfg, act_dim: int) -> PolicyModel:
    """FPMD-M: u_theta(x_t, r, t | s), one-step sampling a = z - u(z, 0, 1)."""
    net = MeanVelocityField(act_dim=act_dim, hidden_sizes=cfg.hidden_sizes, activation=cfg.activation,
                            time_embed_dim=cfg.time_embed_dim, time_style=cfg.time_embedding)

    def init_params(key, obs_dim):
        z = jnp.zeros((1,))
        return net.init(key, jnp.zeros((1, obs_dim)), jnp.zeros((1, act_dim)), z, z)

    def prepare(params, nfe):
        """The (r, t) embeddings of the ``nfe`` jumps, computed once per call, not per sample: (nfe, 2E)."""
        return net.embed_times(params, *flows.meanflow_times(nfe))

    def u_fn(params, obs):
        return lambda x, r, t, e: net.apply(params, obs, x, r, t, temb=e)

    def sample_prepared(params, temb, obs, key, nfe):
        z = cfg.prior_scale * jax.random.normal(key, obs.shape[:-1] + (act_dim,))
        a = flows.meanflow_sample(u_fn(params, obs), z, nfe, step_inputs=temb)
        return jnp.clip(a, -1.0, 1.0)

    def sample(params, obs, key, nfe):
        return sample_prepared(params, prepare(params, nfe), obs, key, nfe)

    def path(params, obs, key, nfe):
        """The nfe + 1 points z = x_1, x_{1 - 1/nfe}, ..., x_0 of the multi-step sampler."""
        z = cfg.prior_scale * jax.random.normal(key, obs.shape[:-1] + (act_dim,))
        temb = prepare(params, nfe)
        pts = [z]
        for k in range(1, nfe + 1):
            pts.append(flows.meanflow_sample(u_fn(params, obs), z, nfe, k, step_inputs=temb))
        return jnp.stack(pts)

    def loss(params, obs, a1, key):  # per-sample MeanFlow residual, Eq. (16)
        kz, kt = jax.random.split(key)
        z = cfg.train_prior_scale * jax.random.normal(kz, a1.shape)
        r, t = flows.sample_meanflow_times(kt, a1.shape[:-1])
        u, target = flows.meanflow_target(lambda x, r_, t_: net.apply(params, obs, x, r_, t_), a1, z, r, t)
        return jnp.sum((u - target) ** 2, axis=-1)

    return PolicyModel(init_params=init_params, sample=sample, loss=loss, sample_path=path, prepare=prepare,
                       sample_prepared=sample_prepared)


def make_fpmd(cfg, obs_dim: int, act_dim: int, variant: str) -> Agent:
    """FPMD-R (``variant='r'``: ``flow_steps`` Euler steps per candidate, ``eval_flow_steps``
    at evaluation) or FPMD-M (``variant='m'``: one step always) as an ``Agent``."""
    if variant == "r":
        return make_pmd(cfg, obs_dim, act_dim, flow_policy(cfg, act_dim),
                        train_nfe=cfg.flow_steps, eval_nfe=cfg.eval_flow_steps)
    return make_pmd(cfg, obs_dim, act_dim, meanflow_policy(cfg, act_dim), train_nfe=1, eval_nfe=1)
