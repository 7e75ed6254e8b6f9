"""DPMD (diffusion policy mirror descent, Ma et al. 2025), the diffusion baseline of Table 1.

The policy is a K-step DDPM (K = ``cfg.flow_steps``, 20 in the configs) with a noise
predictor eps_theta(x_k, k | s) (``networks.VelocityField`` on the integer step k,
embedded without rescaling), the cosine schedule (alpha_bar_K ~ 1e-5) and ancestral
sampling from ``prior_scale`` * N(0, I) (0.5, as the authors' diffusion policy;
``flows.ddpm_sample``). Training is
the same policy mirror descent as FPMD (``pmd.make_pmd``): the actions a1 are
best-of-N-plus-noise samples at the batch's next states, weighted by
exp(Q(s', a1) / lambda) (``mirror.md_weights``), and the loss is the weighted
denoising regression

    w(s', a1) || eps - eps_theta(sqrt(abar_k) a1 + sqrt(1 - abar_k) eps, k / K | s') ||^2,

k uniform on the K steps, eps ~ N(0, I). Evaluation runs one DDPM chain of NFE = K
(no best-of-N, no noise); the chain's schedule is tied to K, so ``sample`` accepts
only ``nfe == cfg.flow_steps``.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from fpmd_mjx import flows
from fpmd_mjx.agents.base import Agent
from fpmd_mjx.agents.pmd import PolicyModel, make_pmd
from fpmd_mjx.networks import VelocityField


def ddpm_policy(cfg, act_dim: int) -> PolicyModel:
    """The K-step DDPM policy of DPMD as a ``PolicyModel``."""
    net = VelocityField(act_dim=act_dim, hidden_sizes=cfg.hidden_sizes, activation=cfg.activation,
                        time_embed_dim=cfg.time_embed_dim, time_style=cfg.time_embedding, time_scale=1.0)
    num_steps = cfg.flow_steps
    _, _, alpha_bars = flows.ddpm_schedule(num_steps)

    def init_params(key, obs_dim):
        return net.init(key, jnp.zeros((1, obs_dim)), jnp.zeros((1, act_dim)), jnp.zeros((1,)))

    def _check(nfe):
        if nfe != num_steps:
            raise ValueError(f"DPMD samples with its training schedule: nfe must be flow_steps={num_steps}, "
                             f"got {nfe}")

    def chain(params, obs, key, nfe, return_path):
        _check(nfe)
        k_prior, k_chain = jax.random.split(key)
        x_K = cfg.prior_scale * jax.random.normal(k_prior, obs.shape[:-1] + (act_dim,))
        return flows.ddpm_sample(lambda x, t: net.apply(params, obs, x, t), k_chain, x_K, num_steps,
                                 return_path=return_path)

    def sample(params, obs, key, nfe=num_steps):
        return jnp.clip(chain(params, obs, key, nfe, False), -1.0, 1.0)

    def loss(params, obs, a1, key):  # per-sample denoising error, weighted by the caller
        k_eps, k_step = jax.random.split(key)
        eps = jax.random.normal(k_eps, a1.shape)
        k = jax.random.randint(k_step, a1.shape[:-1], 0, num_steps)
        x_k = flows.ddpm_noised(a1, eps, k, alpha_bars)
        return jnp.sum((net.apply(params, obs, x_k, k.astype(a1.dtype)) - eps) ** 2, axis=-1)

    return PolicyModel(init_params=init_params, sample=sample, loss=loss,
                       sample_path=functools.partial(chain, return_path=True))


def make_dpmd(cfg, obs_dim: int, act_dim: int) -> Agent:
    """DPMD as an ``Agent``: best-of-N candidates and evaluation both use K = flow_steps steps."""
    return make_pmd(cfg, obs_dim, act_dim, ddpm_policy(cfg, act_dim),
                    train_nfe=cfg.flow_steps, eval_nfe=cfg.flow_steps)
