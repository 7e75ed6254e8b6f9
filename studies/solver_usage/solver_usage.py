"""How much constraint solver the tasks really use: the evidence for the solver caps.

C MuJoCo's Newton solver stops as soon as it converges; MJX's line search is a
fixed-length ``lax.scan`` of ``opt.ls_iterations`` (under ``vmap`` every
iteration is computed) and its Newton loop runs to the slowest env of a batch.
The v4 XMLs keep MuJoCo's defaults (100 Newton iterations, 50 line-search
iterations), so batched MJX pays for iterations no state needs.  This script
measures, per task, along Gymnasium-driven trajectories (action styles of
``fpmd_mjx.parity`` and, with ``--policy``, a trained checkpoint):

* C MuJoCo (Gymnasium v4, Humanoid on Newton as in MJX): Newton iterations and
  line-search evaluations of every forward pass (RK4 tasks run four per physics
  step; all are counted);
* MJX (this package's task): the line-search iterations of every Newton
  iteration and the Newton iterations of every solve, on the same states;
* whether the task's caps (``TaskSpec.solver_caps``) ever bind: one env step
  from every recorded state with and without the caps must give bit-identical
  observations and rewards.

    python studies/solver_usage/solver_usage.py --env all --steps 600 --probe-ls 2,4 \
        --json studies/solver_usage/solver_usage_cpu.json
    python studies/solver_usage/solver_usage.py --env ant --policy runs/ant/best --steps 600
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from fpmd_mjx.parity import STYLES, action_style  # noqa: E402


class CSolverLog:
    """Records the solver statistics of every C ``mj_forward`` while active.

    ``mjcb_control`` runs inside each forward pass before the constraint solver,
    so at that moment the statistics are those of the previous forward; the last
    forward is read when the log is closed."""

    def __init__(self, data):
        self.data, self.niter, self.neval = data, [], []

    def _read(self):
        d = self.data
        n = int(d.solver_niter[: max(d.nisland, 1)].max())
        evals = np.asarray(d.solver.neval).reshape(-1, 200)[: max(d.nisland, 1), :n]
        self.niter.append(n)
        self.neval.append(int(evals.sum()))

    def __enter__(self):
        import mujoco

        mujoco.set_mjcb_control(lambda m, d: self._read() if d is self.data else None)
        return self

    def __exit__(self, *exc):
        import mujoco

        mujoco.set_mjcb_control(None)
        self._read()
        self.niter, self.neval = self.niter[1:], self.neval[1:]  # the first read precedes any solve


def policy_actor(ckpt_dir: str):
    """``obs (d,) -> action (nu,)`` in actuator units: the checkpoint's evaluation policy,
    acting as ``validation/gym_eval.py`` replays it (one jitted call per action)."""
    import itertools

    import jax
    import jax.numpy as jnp

    from fpmd_mjx.rebuild import load_intact_policy
    from fpmd_mjx.gym_eval import make_act

    _, _, trainer, params, _ = load_intact_policy(ckpt_dir)
    prepare, act = make_act(trainer, trainer.agent.eval_nfe)
    dparams, key, t = prepare(params), jax.random.PRNGKey(0), itertools.count()
    return lambda obs: np.asarray(act(dparams, jnp.asarray(obs, jnp.float32)[None], key, next(t)))[0]


def drive_c(name: str, source: str, steps: int, seed: int, every: int, ckpt: str | None = None) -> dict:
    """``steps`` Gymnasium env steps driven by ``source`` (a style or ``"policy"``).

    Returns C's per-forward counts and every ``every``-th state (qpos, qvel, warm
    start) with its action, for the MJX side."""
    from fpmd_mjx.envs.gym_reference import make_gym_env

    gym_env = make_gym_env(name, match_mjx_options=True)  # Humanoid: Newton, as MJX runs it
    env = gym_env.unwrapped
    rng = np.random.default_rng(seed)
    if source == "policy":
        actor = policy_actor(ckpt)
        next_action = None
    else:
        next_action = action_style(source, gym_env.action_space.low, gym_env.action_space.high, rng)
    rec = {k: [] for k in ("qpos", "qvel", "warm", "action")}
    obs, _ = gym_env.reset(seed=seed)
    action = None
    with CSolverLog(env.data) as log:
        for t in range(steps):
            action = actor(obs) if next_action is None else next_action(action)
            if t % every == 0:
                for k, v in (("qpos", env.data.qpos), ("qvel", env.data.qvel),
                             ("warm", env.data.qacc_warmstart), ("action", action)):
                    rec[k].append(np.array(v, np.float64))
            obs, _, term, trunc, _ = gym_env.step(action)
            if term or trunc:
                obs, _ = gym_env.reset(seed=seed + t + 1)
                action = None
    return {"niter": np.array(log.niter), "neval": np.array(log.neval),
            **{k: np.array(v) for k, v in rec.items()}}


class MjxSolverLog:
    """Counts MJX's Newton and line-search iterations while active.

    Wraps ``mujoco.mjx._src.solver``'s loop helpers for the duration (module
    attributes, restored on exit; nothing installed is edited): the line search's
    final ``ls_iter`` and the Newton loop's final ``solver_niter`` are sent to the
    host with ``jax.debug.callback``.  Functions must be traced inside the block."""

    def __init__(self):
        self.ls_iter, self.niter = [], []

    def __enter__(self):
        import jax
        from mujoco.mjx._src import solver

        self._solver, self._orig = solver, (solver._while_loop_scan, solver.jax.lax.while_loop)
        orig_scan, orig_while = self._orig

        def scan(cond, body, init, max_iter):
            out = orig_scan(cond, body, init, max_iter)
            jax.debug.callback(lambda n: self.ls_iter.extend(np.ravel(n).tolist()), out.ls_iter)
            return out

        def while_loop(cond, body, init):
            out = orig_while(cond, body, init)
            if hasattr(out, "solver_niter"):
                jax.debug.callback(lambda n: self.niter.extend(np.ravel(n).tolist()), out.solver_niter)
            return out

        solver._while_loop_scan = scan
        solver.jax = _JaxWithWhile(jax, while_loop)
        return self

    def __exit__(self, *exc):
        self._solver._while_loop_scan = self._orig[0]
        self._solver.jax = __import__("jax")


class _JaxWithWhile:
    """``jax`` as seen by MJX's solver module, with ``lax.while_loop`` replaced."""

    def __init__(self, jax_module, while_loop):
        self._jax, self.lax = jax_module, _LaxWithWhile(jax_module.lax, while_loop)

    def __getattr__(self, name):
        return getattr(self._jax, name)


class _LaxWithWhile:
    def __init__(self, lax, while_loop):
        self._lax, self.while_loop = lax, while_loop

    def __getattr__(self, name):
        return getattr(self._lax, name)


def one_step_fn(env, batched: bool = True):
    """Jitted ``(qpos, qvel, warm, action) (N, ...) -> (obs (N, d), reward (N,))``:
    one env step of ``env`` from each Gymnasium state, vmapped or (``batched=False``)
    one state after the other with ``lax.map``, where MJX's loops stop per state
    (under ``vmap`` a converged state keeps computing, discarded, until the
    slowest one is done, so only unbatched counts are the solver's own)."""
    import jax

    from fpmd_mjx.parity import mjx_rollout_fn

    roll = mjx_rollout_fn(env)
    if batched:
        return jax.jit(lambda q, v, w, a: roll(q, v, w, a[:, None])[:2])

    def one(x):
        q, v, w, a = (y[None] for y in x)
        return jax.tree.map(lambda y: y[0], roll(q, v, w, a[:, None])[:2])

    return jax.jit(lambda q, v, w, a: jax.lax.map(one, (q, v, w, a)))


def mjx_usage(name: str, rec: dict, probe_ls=()) -> dict:
    """MJX's own iteration counts from the recorded states, and whether the
    task's caps change one env step from any of them (bit for bit); each
    ``probe_ls`` value is tried as a smaller line-search cap the same way."""
    import dataclasses

    import jax.numpy as jnp

    from fpmd_mjx import envs

    capped, uncapped = envs.make(name), envs.make(name, solver_caps=False)
    args = [jnp.asarray(rec[k], jnp.float32) for k in ("qpos", "qvel", "warm", "action")]
    with MjxSolverLog() as log:
        one_step_fn(uncapped, batched=False)(*args)
    out_u = [np.asarray(x) for x in one_step_fn(uncapped)(*args)]

    def same_as_uncapped(env) -> bool:
        out = [np.asarray(x) for x in one_step_fn(env)(*args)]
        return all(np.array_equal(a, b, equal_nan=True) for a, b in zip(out_u, out))

    probes = {}
    for ls in probe_ls:
        caps = tuple((k, ls if k == "ls_iterations" else v) for k, v in capped.spec.solver_caps)
        probes[str(ls)] = same_as_uncapped(type(capped)(dataclasses.replace(capped.spec, solver_caps=caps)))
    return {"ls_iter": np.array(log.ls_iter), "niter": np.array(log.niter),
            "caps_bit_identical": same_as_uncapped(capped), "ls_probes_bit_identical": probes}


def summary(x: np.ndarray) -> dict:
    x = np.asarray(x, float)
    if x.size == 0:
        return {"mean": 0.0, "p99": 0.0, "max": 0.0}
    return {"mean": float(x.mean()), "p99": float(np.percentile(x, 99)), "max": float(x.max())}


def measure(name: str, sources, steps: int, seed: int, every: int, ckpt: str | None, probe_ls=()) -> dict:
    from fpmd_mjx import envs

    c_niter, c_neval, recs = [], [], []
    for k, source in enumerate(sources):
        r = drive_c(name, source, steps, seed + 97 * k, every, ckpt)
        c_niter.append(r["niter"])
        c_neval.append(r["neval"])
        recs.append(r)
    rec = {k: np.concatenate([r[k] for r in recs]) for k in ("qpos", "qvel", "warm", "action")}
    m = mjx_usage(name, rec, probe_ls)
    caps = dict(envs.spec(name).solver_caps)
    return {"task": name, "sources": list(sources), "env_steps": steps * len(sources), "mjx_states": len(rec["qpos"]),
            "c_newton": summary(np.concatenate(c_niter)), "c_ls_evals": summary(np.concatenate(c_neval)),
            "mjx_newton": summary(m["niter"]), "mjx_ls_iter": summary(m["ls_iter"]),
            "caps": caps, "caps_bit_identical": m["caps_bit_identical"],
            "ls_probes_bit_identical": m["ls_probes_bit_identical"]}


def print_rows(rows) -> None:
    print(f"{'task':25s} {'C Newton mean/p99/max':>22s} {'C LS evals mean/p99/max':>24s} "
          f"{'MJX Newton max':>14s} {'MJX LS iter mean/max':>21s} {'caps (iter, ls)':>16s} {'caps change nothing':>20s}"
          f"  smaller LS caps change nothing")
    for r in rows:
        cn, ce, mn, ml = r["c_newton"], r["c_ls_evals"], r["mjx_newton"], r["mjx_ls_iter"]
        caps = f"{r['caps'].get('iterations', '-')}, {r['caps'].get('ls_iterations', '-')}"
        print(f"{r['task']:25s} {cn['mean']:8.2f}/{cn['p99']:5.0f}/{cn['max']:5.0f} "
              f"{ce['mean']:10.2f}/{ce['p99']:5.0f}/{ce['max']:5.0f} {mn['max']:14.0f} "
              f"{ml['mean']:14.2f}/{ml['max']:5.0f} {caps:>16s} {str(r['caps_bit_identical']):>20s}  "
              + ", ".join(f"{k}: {v}" for k, v in r.get("ls_probes_bit_identical", {}).items()))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--env", default="all", help="task name, comma list, or 'all'")
    p.add_argument("--styles", default=",".join(STYLES), help="comma list of " + ", ".join(STYLES))
    p.add_argument("--policy", default=None, help="also drive with this checkpoint's evaluation policy")
    p.add_argument("--steps", type=int, default=600, help="Gymnasium env steps per style")
    p.add_argument("--every", type=int, default=3, help="record every k-th state for the MJX side")
    p.add_argument("--probe-ls", default="", help="comma list of smaller line-search caps to test for bit identity")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default=None, help="write the rows here")
    args = p.parse_args(argv)
    from fpmd_mjx import envs
    from fpmd_mjx.jax_setup import enable_compilation_cache

    enable_compilation_cache()
    try:
        names = envs.names() if args.env == "all" else [envs.canonical_name(n) for n in args.env.split(",")]
        sources = [s.strip() for s in args.styles.split(",")]
        for s in sources:
            if s not in STYLES:
                raise ValueError(f"unknown action style {s!r}; valid styles: {', '.join(STYLES)}")
        probes = [x.strip() for x in args.probe_ls.split(",") if x.strip()]
        if not all(x.isdigit() and int(x) > 0 for x in probes):
            raise ValueError(f"--probe-ls must be positive integers separated by commas, got {args.probe_ls!r}")
        probes = [int(x) for x in probes]
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.policy:
        sources.append("policy")
    rows = []
    for name in names:
        t0 = time.perf_counter()
        rows.append(measure(name, sources, args.steps, args.seed, args.every, args.policy, probes))
        print(f"# {name}: {time.perf_counter() - t0:.0f} s", flush=True)
        print_rows(rows[-1:])
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"args": vars(args), "rows": rows}, f, indent=1)
    print_rows(rows)
    return 0 if all(r["caps_bit_identical"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
