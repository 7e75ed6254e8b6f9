"""Run an exported policy with jax and numpy only (no flax, brax, mujoco or orbax).

An artifact is a directory written by ``scripts/export_policy.py`` (``fpmd_mjx.export``)::

    policy.json        what it is: task, Gymnasium id, observation / action sizes, the
                       actuator range, algorithm, NFE, source checkpoint, versions
    policy.jaxexport   the serialized ``jax.export`` computation (StableHLO) of
                       act(params, obs (b, obs_dim) f32, key u32[2]) -> action (b, act_dim) f32,
                       actions already in the actuator range, the batch size b symbolic
    params.npz         the parameters, in the order the computation takes them

    from fpmd_mjx import deploy
    policy = deploy.load("policy/")
    action = policy(obs_batch, jax.random.PRNGKey(0))   # (b, obs_dim) -> (b, act_dim), jax arrays
    a = policy.act(obs)                                  # numpy (obs_dim,) -> numpy (act_dim,)

Every problem with an artifact or an input raises :class:`DeployError` with a one-line message.
"""
from __future__ import annotations

import json
import os

import jax
import jax.numpy as jnp
import numpy as np

FORMAT = "fpmd_mjx.policy"
VERSION = 1  # bump when the artifact layout changes incompatibly
META_FILE, EXPORTED_FILE, PARAMS_FILE = "policy.json", "policy.jaxexport", "params.npz"


class DeployError(ValueError):
    """A missing or foreign artifact, a version it cannot read, or a bad input (one line)."""


def read_meta(path: str) -> dict:
    """``policy.json`` of an artifact directory; DeployError if it is not one this version reads."""
    if not os.path.isdir(path):
        raise DeployError(f"exported policy {path!r} does not exist or is not a directory")
    meta_path = os.path.join(path, META_FILE)
    if not os.path.isfile(meta_path):
        raise DeployError(f"{path!r} is not an exported fpmd_mjx policy (no {META_FILE}; "
                          "write one with scripts/export_policy.py)")
    try:
        with open(meta_path) as f:
            meta = json.load(f)
    except ValueError:
        raise DeployError(f"{meta_path!r} is not valid JSON") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise DeployError(f"{path!r} is not an exported fpmd_mjx policy ({META_FILE} has format "
                          f"{meta.get('format') if isinstance(meta, dict) else None!r}, expected {FORMAT!r})")
    if meta.get("version") != VERSION:
        raise DeployError(f"{path!r} is artifact version {meta.get('version')!r} (written by fpmd_mjx "
                          f"{meta.get('fpmd_mjx_version', '?')}); this fpmd_mjx reads version {VERSION}")
    return meta


class Policy:
    """A loaded artifact: ``policy(obs, key) -> action`` in the actuator range.

    ``obs``: (b, obs_dim) or (obs_dim,) float; ``key``: a ``jax.random.PRNGKey`` (or a
    typed key); returns (b, act_dim) or (act_dim,) float32 (jax arrays). One network
    evaluation per action for NFE 1 (``meta["nfe"]``).
    """

    def __init__(self, path: str, meta: dict, exported, params: list):
        self.path, self.meta, self.params = path, meta, params
        self.obs_dim, self.act_dim = int(meta["obs_dim"]), int(meta["act_dim"])
        self.platforms = tuple(exported.platforms)
        self._call = jax.jit(exported.call)

    def __call__(self, obs, key) -> jax.Array:
        obs = jnp.asarray(obs, jnp.float32)
        if obs.ndim not in (1, 2) or obs.shape[-1] != self.obs_dim:
            raise DeployError(f"observation shape {tuple(obs.shape)} does not fit this policy of task "
                              f"{self.meta['task']!r}: expected ({self.obs_dim},) or (batch, {self.obs_dim})")
        key = jnp.asarray(key)
        if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
            key = jax.random.key_data(key)
        if key.shape != (2,) or key.dtype != jnp.uint32:
            raise DeployError(f"key must be a jax.random.PRNGKey (uint32, shape (2,)), got {key.dtype} "
                              f"{tuple(key.shape)}")
        try:
            action = self._call(self.params, obs if obs.ndim == 2 else obs[None], key)
        except Exception as e:
            if jax.default_backend() in self.platforms or "platform" not in str(e).lower():
                raise
            raise DeployError(f"{self.path!r} was exported for {', '.join(self.platforms)}; this device is "
                              f"{jax.default_backend()} (export again with --platforms)") from None
        return action if obs.ndim == 2 else action[0]

    def act(self, obs, seed: int = 0) -> np.ndarray:
        """numpy (obs_dim,) -> numpy (act_dim,) with key ``PRNGKey(seed)``."""
        obs = np.asarray(obs, np.float32)
        if obs.shape != (self.obs_dim,):
            raise DeployError(f"observation shape {obs.shape} does not fit this policy of task "
                              f"{self.meta['task']!r}: expected ({self.obs_dim},)")
        return np.asarray(self(obs, jax.random.PRNGKey(seed)))


def load(path: str) -> Policy:
    """Load an artifact directory written by ``scripts/export_policy.py``."""
    meta = read_meta(path)
    try:
        with open(os.path.join(path, EXPORTED_FILE), "rb") as f:
            blob = f.read()
        with np.load(os.path.join(path, PARAMS_FILE)) as z:
            params = [jnp.asarray(z[f"p{i}"]) for i in range(len(z.files))]
    except (OSError, KeyError, ValueError) as e:
        raise DeployError(f"{path!r} is incomplete or damaged: {type(e).__name__}: "
                          f"{(str(e).splitlines() or [''])[0][:120]}") from None
    try:
        exported = jax.export.deserialize(bytearray(blob))
    except Exception as e:  # noqa: BLE001 - flatbuffer / version errors come in several kinds
        raise DeployError(f"{path!r}: this jax {jax.__version__} cannot read its computation (exported with jax "
                          f"{meta.get('jax_version', '?')}): {(str(e).splitlines() or [type(e).__name__])[0][:160]}"
                          ) from None
    expected = [(tuple(a.shape), str(a.dtype)) for a in exported.in_avals[:len(params)]]
    if [(tuple(p.shape), str(p.dtype)) for p in params] != expected:
        raise DeployError(f"{path!r}: {PARAMS_FILE} does not match the exported computation's parameters")
    return Policy(path, meta, exported, params)
