"""Export a checkpoint's evaluation policy as a standalone artifact (``jax.export``).

The artifact (layout in :mod:`fpmd_mjx.deploy`, which loads it with jax alone) holds the
evaluation policy ``obs -> action`` exactly as ``validation/gym_eval.py`` computes it:
``agent.sample`` with ``nfe`` network evaluations and no exploration noise, mapped to the
actuator range, with what depends on the parameters alone (the time embeddings of the
sampler's fixed times) computed once at export.  The parameters are inputs of the
serialized computation (stored beside it in ``params.npz``), so the exported program is
the one ``gym_eval`` jits and replays bit for bit.

    meta = export_checkpoint("runs/ip/best", "policy/")          # what scripts/export_policy.py does
    prepare, act = deploy_fns(agent, env, nfe=1)
    exp = export_act(agent, env, prepare(params), nfe=1)          # a jax.export.Exported
"""
from __future__ import annotations

import json
import os

import jax
import jax.numpy as jnp
import numpy as np

import fpmd_mjx
from fpmd_mjx.checkpoint import find_checkpoints
from fpmd_mjx.deploy import (
    EXPORTED_FILE,
    FORMAT,
    META_FILE,
    PARAMS_FILE,
    VERSION,
    DeployError,
)
from fpmd_mjx.envs.wrappers import scale_action
from fpmd_mjx.rebuild import load_intact_policy

DEFAULT_PLATFORMS = ("cpu", "cuda")


def deploy_fns(agent, env, nfe: int):
    """``(prepare, act)`` of the evaluation policy with ``nfe`` network evaluations (the
    trainer's own code): ``prepare(params) -> dparams`` (jitted) computes once what depends
    on the parameters alone (``agent.prepare``: the sampler's time embeddings), and
    ``act(dparams, obs (b, obs_dim), key) -> (b, act_dim)`` acts in ``env``'s actuator range."""
    if agent.prepare is None:
        def prepare(params):
            return params

        def sample(dparams, obs, key):
            return agent.sample(dparams, obs, key, nfe)
    else:
        def prepare(params):
            return params, agent.prepare(params, nfe)

        def sample(dparams, obs, key):
            return agent.sample_prepared(*dparams, obs, key, nfe)

    def act(dparams, obs, key):
        return scale_action(env, sample(dparams, obs, key))

    return jax.jit(prepare), act


def export_act(agent, env, dparams, nfe: int, platforms=DEFAULT_PLATFORMS):
    """``jax.export.Exported`` of :func:`deploy_fns`'s ``act`` for ``(list of the leaves of
    dparams, obs (b, obs_dim) f32, key u32[2])``, b symbolic; lowered for each of
    ``platforms`` this jax can lower for (cuda needs no GPU to lower; a platform that
    fails to lower is left out, cpu must work)."""
    leaves, treedef = jax.tree.flatten(dparams)
    act = deploy_fns(agent, env, nfe)[1]

    def flat_act(flat_params, obs, key):
        return act(jax.tree.unflatten(treedef, flat_params), obs, key)

    (b,) = jax.export.symbolic_shape("b")
    specs = ([jax.ShapeDtypeStruct(jnp.shape(x), jnp.asarray(x).dtype) for x in leaves],
             jax.ShapeDtypeStruct((b, env.observation_size), jnp.float32),
             jax.ShapeDtypeStruct((2,), jnp.uint32))
    def lower(ps):
        return jax.export.export(jax.jit(flat_act), platforms=tuple(ps))(*specs)

    try:
        return lower(platforms)
    except Exception:  # a platform without lowering rules here: find it and leave it out
        ok = []
        for p in platforms:
            try:
                lower([p])
                ok.append(p)
            except Exception:
                if p == "cpu":
                    raise
        return lower(ok)


def _pick(path: str) -> str:
    """The checkpoint step directory to export from ``path``: a step directory as is; of
    a run directory, its best checkpoint (the newest periodic one if it has no best)."""
    found = find_checkpoints(path)
    best = [d for d in found if os.path.basename(os.path.dirname(os.path.abspath(d))) == "best"]
    if len(found) > 2 or (len(found) == 2 and not best):
        raise DeployError(f"{path!r} holds several runs' checkpoints ({len(found)}); name one run or step directory")
    return (best or found)[0]


def export_checkpoint(path: str, out: str, nfe: int | None = None, platforms=DEFAULT_PLATFORMS) -> dict:
    """Write the artifact of the checkpoint at ``path`` (see :func:`_pick`) to ``out``;
    ``nfe`` defaults to the checkpoint's evaluation NFE. Returns the artifact's meta.
    CheckpointError / DeployError (one line) for bad input."""
    step_dir, cfg, trainer, params, ckpt_meta = load_intact_policy(_pick(path))
    nfe = int(nfe or ckpt_meta.get("eval_nfe") or trainer.agent.eval_nfe)
    if nfe < 1:
        raise DeployError(f"--nfe must be >= 1, got {nfe}")
    dparams = deploy_fns(trainer.agent, trainer.env, nfe)[0](params)
    exported = export_act(trainer.agent, trainer.env, dparams, nfe, platforms)
    mjx_return = ckpt_meta.get("eval_returns_by_nfe", {}).get(str(nfe))
    if mjx_return is None and nfe == ckpt_meta.get("eval_nfe"):
        mjx_return = ckpt_meta.get("eval_return")
    return write_artifact(out, exported, dparams, trainer.env, {
        "task": cfg.env, "algo": cfg.algo, "nfe": nfe, "source_checkpoint": os.path.abspath(step_dir),
        "source_env_steps": ckpt_meta.get("env_steps"), "source_seed": ckpt_meta.get("seed"),
        "mjx_eval_return": mjx_return})


def write_artifact(out: str, exported, dparams, env, info: dict) -> dict:
    """Write ``exported`` (of :func:`export_act`), its parameters ``dparams`` and ``policy.json`` (``info``
    plus the sizes, action range, platforms and versions) to ``out``; returns the meta."""
    leaves = jax.tree.leaves(dparams)
    meta = {
        "format": FORMAT, "version": VERSION, "task": None, "gym_id": getattr(env, "gym_id", None), "algo": None,
        "obs_dim": env.observation_size, "act_dim": env.action_size,
        "action_low": np.asarray(env.action_low, float).tolist(), "action_high": np.asarray(env.action_high, float).tolist(),
        "nfe": None, "policy": "sample: one draw, no exploration noise, actions in the actuator range",
        "platforms": list(exported.platforms), "jax_version": jax.__version__,
        "calling_convention_version": exported.calling_convention_version, "fpmd_mjx_version": fpmd_mjx.__version__,
        "num_params": int(sum(np.size(x) for x in leaves)), **info,
    }
    blob = exported.serialize()
    os.makedirs(out, exist_ok=True)
    if os.path.exists(os.path.join(out, META_FILE)):  # an older artifact here: incomplete until rewritten
        os.remove(os.path.join(out, META_FILE))
    with open(os.path.join(out, EXPORTED_FILE), "wb") as f:
        f.write(blob)
    np.savez(os.path.join(out, PARAMS_FILE), **{f"p{i}": np.asarray(x) for i, x in enumerate(leaves)})
    with open(os.path.join(out, META_FILE), "w") as f:  # last: its presence marks a complete artifact
        json.dump(meta, f, indent=1)
    return meta
