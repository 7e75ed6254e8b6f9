"""Flax networks: MLP trunk, time embedding, flow / MeanFlow / diffusion fields, double Q.

Shapes: ``obs`` (..., obs_dim), ``action`` (..., act_dim), times (...,) in [0, 1].
Leading dimensions broadcast, so the same module serves one state, a batch, or
a batch of N best-of-N candidates.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

ACTIVATIONS: dict[str, Callable] = {
    "mish": lambda x: x * jnp.tanh(jax.nn.softplus(x)),
    "relu": jax.nn.relu,
    "gelu": jax.nn.gelu,
    "tanh": jnp.tanh,
    "silu": jax.nn.silu,
}


class MLP(nn.Module):
    """``hidden_sizes`` dense layers with ``activation``, then a linear ``out_dim`` layer."""

    hidden_sizes: Sequence[int]
    out_dim: int
    activation: str = "mish"

    @nn.compact
    def __call__(self, x):
        act = ACTIVATIONS[self.activation]
        for h in self.hidden_sizes:
            x = act(nn.Dense(h)(x))
        return nn.Dense(self.out_dim)(x)


def sinusoidal(t: jax.Array, dim: int, scale: float = 1000.0, style: str = "scaled") -> jax.Array:
    """Sinusoidal features of times ``t`` (...,) -> (..., dim).

    ``scaled``: frequencies ``scale * 10000^(-i / (dim/2 - 1))`` radians per unit time,
    amplitude 1.  ``authors`` (the released code): raw t (``scale`` ignored),
    frequencies ``10000^(-i / (dim/2))``, amplitude ``1 / sqrt(dim)``."""
    half = dim // 2
    if style == "authors":
        freqs = jnp.exp(-math.log(10_000.0) * jnp.arange(half) / half)
        ang = t[..., None] * freqs
        return jnp.concatenate([jnp.sin(ang), jnp.cos(ang)], axis=-1) / math.sqrt(dim)
    freqs = jnp.exp(-math.log(10_000.0) * jnp.arange(half) / max(half - 1, 1))
    ang = scale * t[..., None] * freqs
    return jnp.concatenate([jnp.sin(ang), jnp.cos(ang)], axis=-1)


class TimeEmbedding(nn.Module):
    """Sinusoidal(dim) -> Dense(2 dim) -> mish -> Dense(dim), as in the authors' code.

    ``scale`` stretches [0, 1] to the usual diffusion-step range (1000) for the flow and
    diffusion fields. The MeanFlow field uses 1: its target differentiates u in t
    (Eq. 9), and a 1000x stretch makes du/dt ~ 1e3 at initialisation, so the
    fixed-point iteration diverges (on a point target the MeanFlow loss grew from 2.5e2
    to 6e7 in 1500 Adam steps with 1000, and fell to 1.5e-2 with 1).
    """

    dim: int = 16
    scale: float = 1000.0
    style: str = "scaled"

    @nn.compact
    def __call__(self, t):
        x = nn.Dense(2 * self.dim)(sinusoidal(t, self.dim, self.scale, self.style))
        return nn.Dense(self.dim)(ACTIVATIONS["mish"](x))


class VelocityField(nn.Module):
    """v_theta(a_t, t | s) of FPMD-R (also the noise predictor of DPMD): (..., act_dim)."""

    act_dim: int
    hidden_sizes: Sequence[int]
    activation: str = "mish"
    time_embed_dim: int = 16
    time_scale: float = 1000.0  # DPMD feeds integer steps with 1.0
    time_style: str = "scaled"

    @nn.compact
    def __call__(self, obs, a_t, t, temb=None):
        """``temb`` (..., time_embed_dim): the embedding of ``t`` if already computed
        (:meth:`embed_times`; broadcast over the batch), else computed here."""
        shape = a_t.shape[:-1]
        if temb is None:
            temb = self._embedding()(jnp.broadcast_to(t, shape))
        x = jnp.concatenate([obs, a_t, jnp.broadcast_to(temb, shape + temb.shape[-1:])], axis=-1)
        return MLP(self.hidden_sizes, self.act_dim, self.activation)(x)

    def _embedding(self, **kw):
        return TimeEmbedding(self.time_embed_dim, self.time_scale, self.time_style, name="TimeEmbedding_0", **kw)

    def embed_times(self, params, t):
        """The time embedding of times ``t`` (...,) -> (..., time_embed_dim) with ``params``."""
        return self._embedding(parent=None).apply({"params": params["params"]["TimeEmbedding_0"]}, t)


class MeanVelocityField(nn.Module):
    """u_theta(a_t, r, t | s) of FPMD-M, r and t embedded separately: (..., act_dim)."""

    act_dim: int
    hidden_sizes: Sequence[int]
    activation: str = "mish"
    time_embed_dim: int = 16
    time_style: str = "scaled"

    @nn.compact
    def __call__(self, obs, a_t, r, t, temb=None):
        """``temb`` (..., 2 time_embed_dim): the embeddings of (r, t) if already computed
        (:meth:`embed_times`; broadcast over the batch), else computed here."""
        shape = a_t.shape[:-1]
        if temb is None:
            temb = jnp.concatenate([self._embedding(n)(jnp.broadcast_to(x, shape))
                                    for n, x in (("r_embed", r), ("t_embed", t))], axis=-1)
        x = jnp.concatenate([obs, a_t, jnp.broadcast_to(temb, shape + temb.shape[-1:])], axis=-1)
        return MLP(self.hidden_sizes, self.act_dim, self.activation)(x)

    def _embedding(self, name, **kw):
        return TimeEmbedding(self.time_embed_dim, 1.0, self.time_style, name=name, **kw)

    def embed_times(self, params, r, t):
        """The concatenated embeddings of times ``r``, ``t`` (...,) -> (..., 2 time_embed_dim)."""
        return jnp.concatenate([self._embedding(n, parent=None).apply({"params": params["params"][n]}, x)
                                for n, x in (("r_embed", r), ("t_embed", t))], axis=-1)


class DoubleQ(nn.Module):
    """Two independent Q MLPs on concat(s, a): returns (..., 2)."""

    hidden_sizes: Sequence[int]
    activation: str = "mish"

    @nn.compact
    def __call__(self, obs, action):
        x = jnp.concatenate([obs, action], axis=-1)
        qs = [MLP(self.hidden_sizes, 1, self.activation, name=f"q{i}")(x) for i in range(2)]
        return jnp.concatenate(qs, axis=-1)


class GaussianActor(nn.Module):
    """SAC actor: mean and log-std of a tanh-squashed Gaussian, each (..., act_dim).

    The log-std is clipped to [``log_std_min``, ``log_std_max``]; the authors' released
    code clips the same way (relax/network/blocks.py ``PolicyNet``), with bounds [-20, 0.5]."""

    act_dim: int
    hidden_sizes: Sequence[int]
    activation: str = "mish"
    log_std_min: float = -5.0
    log_std_max: float = 2.0

    @nn.compact
    def __call__(self, obs):
        out = MLP(self.hidden_sizes, 2 * self.act_dim, self.activation)(obs)
        mean, log_std = jnp.split(out, 2, axis=-1)
        return mean, jnp.clip(log_std, self.log_std_min, self.log_std_max)
