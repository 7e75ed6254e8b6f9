"""Parity of the MJX task ports against Gymnasium v4 (C MuJoCo, float64).

Gymnasium drives episodes with an action *style* (``uniform`` in the action
box, ``bounds``: every actuator at its low or high end, ``walk``: a smooth
random walk), so the states are the ones policies visit: feet on the floor,
joints at their limits, deep in episodes.  From recorded states:

1. *one-step parity* (teacher-forced): MJX is put at Gymnasium's exact state
   (qpos, qvel and the solver's warm start) and takes the same action; next
   observation, reward and termination are compared, per transition;
2. *rollout parity*: from some of those states both sides follow the same
   action sequence for ``--horizon`` steps; the steps until the max abs
   observation error first exceeds ``--threshold`` tell chaos from bugs
   (``--x64`` runs MJX in float64 to separate float32 rounding from model
   differences).

    python validation/parity.py --env all [--styles uniform,bounds,walk]
        [--starts 64] [--horizon 50] [--x64] [--no-caps] [--profile newton1] [--physics warp] [--json F]

``validation/parity.py`` is the command line (:func:`main`); :func:`compare_task`,
:func:`check` and :func:`mjx_rollout_fn` serve the tests and the studies.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from fpmd_mjx import envs
from fpmd_mjx.envs import mjx_corrections
from fpmd_mjx.envs.gym_reference import make_gym_env
from fpmd_mjx.jax_setup import enable_compilation_cache

# One-step tolerances honest float32 MJX meets (abs errors, every action style;
# measured values and reasons in docs/tasks.md).  obs / reward: bound on the
# error of one transition; share: fraction of transitions allowed above it;
# term: allowed termination mismatches.  In float64 every task agrees to <= 1e-7
# (the Newton solver's stopping rule); in float32 a contact or joint limit that
# sits within rounding of activation flips in about 1 of 500 transitions of the
# contact-rich tasks (share 0.02 there).  Forward rewards are dx/dt: float32
# rounding of x (metres) over Hopper's and Walker2d's dt = 0.008 s gives 1e-5.
# Humanoid's observation holds forces of size 1e2 (cfrc_ext, qfrc_actuator) and
# its C reference is v4's PGS solver unless --match-options.
TOLERANCES = {
    "ant": dict(obs=1e-3, reward=1e-3, share=0.02, term=0.0),
    "half_cheetah": dict(obs=1e-3, reward=1e-4, share=0.02, term=0.0),
    "hopper": dict(obs=1e-4, reward=1e-4, share=1e-3, term=0.0),
    "walker2d": dict(obs=1e-3, reward=1e-4, share=1e-3, term=0.0),
    "humanoid": dict(obs=1e-1, reward=1e-3, share=0.02, term=0.0),
    "swimmer": dict(obs=1e-4, reward=1e-5, share=1e-3, term=0.0),
    "reacher": dict(obs=1e-3, reward=1e-4, share=0.02, term=0.0),
    "pusher": dict(obs=1e-4, reward=1e-5, share=1e-3, term=0.0),
    "inverted_pendulum": dict(obs=1e-4, reward=1e-6, share=1e-3, term=0.0),
    "inverted_double_pendulum": dict(obs=1e-3, reward=1e-4, share=1e-3, term=0.0),
}
STYLES = ("uniform", "bounds", "walk")
REPORT_STEPS = (1, 10, 50, 100, 200)


def action_style(style: str, low: np.ndarray, high: np.ndarray, rng: np.random.Generator):
    """``next_action(prev) -> action`` for one style (prev is None at start)."""
    if style not in STYLES:
        raise ValueError(f"unknown action style {style!r}; valid styles: {', '.join(STYLES)}")
    if style == "uniform":
        return lambda prev: rng.uniform(low, high)
    if style == "bounds":
        return lambda prev: np.where(rng.random(low.shape) < 0.5, low, high)

    def walk(prev):  # steps of 10% of the range, reflected at the bounds
        prev = rng.uniform(low, high) if prev is None else prev
        return np.clip(prev + 0.1 * (high - low) * rng.normal(size=low.shape), low, high)

    return walk


def drive(gym_env, style: str, n: int, seed: int, every: int = 3) -> dict:
    """Gymnasium episodes in ``style``; every ``every``-th transition recorded
    until ``n``: state before it (qpos, qvel, warm start) and the action."""
    rng = np.random.default_rng(seed)
    env = gym_env.unwrapped
    next_action = action_style(style, gym_env.action_space.low, gym_env.action_space.high, rng)
    rec = {k: [] for k in ("qpos", "qvel", "warm", "action", "depth")}
    gym_env.reset(seed=seed)
    action, depth, t = None, 0, 0
    while len(rec["qpos"]) < n:
        action = next_action(action)
        if t % every == 0:
            for k, v in (("qpos", env.data.qpos), ("qvel", env.data.qvel),
                         ("warm", env.data.qacc_warmstart), ("action", action)):
                rec[k].append(np.array(v, np.float64))
            rec["depth"].append(depth)
        _, _, term, trunc, _ = gym_env.step(action)
        depth, t = depth + 1, t + 1
        if term or trunc:
            gym_env.reset(seed=seed + t)
            action, depth = None, 0
    return {k: np.array(v) for k, v in rec.items()}


def gym_rollout(gym_env, qpos, qvel, warm, actions):
    """C MuJoCo from (qpos, qvel, warm start): obs (H, d), reward (H,), term (H,)."""
    env = gym_env.unwrapped
    env.set_state(qpos, qvel)
    env.data.qacc_warmstart[:] = warm
    obs, rew, term = zip(*(env.step(a)[:3] for a in actions))
    return np.array(obs), np.array(rew), np.array(term, dtype=float)


def mjx_rollout_fn(env):
    """Unjitted ``(qpos (N,nq), qvel (N,nv), warm (N,nv), actions (N,H,nu)) ->
    (obs (N,H,d), reward (N,H), done (N,H))``: MJX put at each Gymnasium state
    (warm start included) and stepped with the actions."""
    def one(qpos, qvel, warm, actions):
        state = env.state_from_qpos_qvel(qpos, qvel)
        data = state.pipeline_state.replace(qacc_warmstart=warm.astype(qvel.dtype))
        state = state.replace(pipeline_state=data)

        def env_step(s, a):
            s = env.step(s, a)
            return s, (s.obs, s.reward, s.done)

        return jax.lax.scan(env_step, state, actions)[1]

    return jax.vmap(one)


def make_mjx_rollout(env):
    """:func:`mjx_rollout_fn` jitted: one compile per task and shape."""
    return jax.jit(mjx_rollout_fn(env))


def continue_style(style, low, high, first, horizon, seed):
    """``(H, nu)`` actions of ``style`` starting with ``first``."""
    rng = np.random.default_rng(seed)
    nxt = action_style(style, low, high, rng)
    acts = [first]
    for _ in range(horizon - 1):
        acts.append(nxt(acts[-1]))
    return np.array(acts)


def compare_style(env, gym_env, rollout, style: str, n_starts: int, horizon: int,
                  threshold: float, seed: int) -> dict:
    """One task and style: ``n_starts`` Gymnasium-driven states, each followed
    for ``horizon`` steps by both engines (step 1 = the teacher-forced step)."""
    rec = drive(gym_env, style, n_starts, seed)
    low, high = env.action_low.astype(np.float64), env.action_high.astype(np.float64)
    actions = np.stack([continue_style(style, low, high, a, horizon, seed + i)
                        for i, a in enumerate(rec["action"])])
    ref = [gym_rollout(gym_env, q, v, w, a)
           for q, v, w, a in zip(rec["qpos"], rec["qvel"], rec["warm"], actions)]
    ref_obs, ref_rew, ref_term = (np.stack(x) for x in zip(*ref))
    dtype = jnp.asarray(env.sys.opt.timestep).dtype
    t0 = time.perf_counter()
    out = rollout(*(jnp.asarray(x, dtype) for x in (rec["qpos"], rec["qvel"], rec["warm"], actions)))
    obs, rew, done = (np.asarray(x, np.float64) for x in out)
    secs = time.perf_counter() - t0
    return summarize(obs, rew, done, ref_obs, ref_rew, ref_term, threshold,
                     dict(style=style, secs=secs, depth_median=float(np.median(rec["depth"]))))


def summarize(obs, rew, done, ref_obs, ref_rew, ref_term, threshold, extra) -> dict:
    """Errors: obs/reward arrays are (N, H, ...); the one-step error = index 0."""
    obs_err = np.abs(obs - ref_obs).max(axis=-1)  # (N, H)
    rew_err = np.abs(rew - ref_rew)
    n, horizon = obs_err.shape
    over = obs_err > threshold
    steps_to_div = np.where(over.any(axis=1), over.argmax(axis=1) + 1, horizon)
    one = obs_err[:, 0]
    return {
        **extra, "n": int(n), "horizon": int(horizon),
        "obs_max": float(one.max()), "obs_median": float(np.median(one)),
        "obs_share_1e-3": float((one > 1e-3).mean()), "obs_errors": one.tolist(),
        "rew_max": float(rew_err[:, 0].max()), "rew_errors": rew_err[:, 0].tolist(),
        "term_mismatch": int((done[:, 0] != ref_term[:, 0]).sum()),
        "rollout_obs_err": {str(k): float(np.median(obs_err[:, k - 1]))
                            for k in REPORT_STEPS if k <= horizon},
        "steps_to_div_median": float(np.median(steps_to_div)),
        "steps_to_div_min": int(steps_to_div.min()), "threshold": threshold,
    }


def check(task: str, result: dict) -> list[str]:
    """One-step tolerance violations of one (task, style) result (empty = pass)."""
    tol, bad = TOLERANCES[task], []
    for key, errs in (("obs", result["obs_errors"]), ("reward", result["rew_errors"])):
        share = float(np.mean(np.asarray(errs) > tol[key]))
        if share > tol["share"]:
            bad.append(f"{key} > {tol[key]:.0e} on {share:.1%} (max {max(errs):.2e})")
    if result["term_mismatch"] > tol["term"] * result["n"]:
        bad.append(f"{result['term_mismatch']} termination mismatches")
    return bad


def compare_task(name: str, styles=STYLES, n_starts: int = 16, horizon: int = 50,
                 threshold: float = 1e-2, seed: int = 0, match_mjx_options: bool = False,
                 rollout=None, solver_tolerance: float | None = None, solver_caps: bool = True,
                 profile: str = "faithful", physics: str = "jax") -> list:
    """Every style of one task with one compiled MJX program (``rollout``, default
    :func:`make_mjx_rollout`); list of results.  ``solver_tolerance`` sets
    ``opt.tolerance`` of both models (v4: 1e-8); ``solver_caps=False`` runs MJX
    with the XML's iteration limits instead of the task's caps; ``profile`` an opt-in
    faster physics profile of MJX (``fpmd_mjx.envs.PROFILES``); ``physics`` the MJX
    backend (``"jax"`` or ``"warp"``)."""
    env = envs.make(name, solver_caps, profile, physics=physics, warp_envs=n_starts)
    gym_env = make_gym_env(name, match_mjx_options=match_mjx_options)
    if solver_tolerance is not None:
        spec = dataclasses.replace(env.spec, options=env.spec.options + (("tolerance", solver_tolerance),))
        env = type(env)(spec, solver_caps)
        gym_env.unwrapped.model.opt.tolerance = solver_tolerance
    rollout = rollout or make_mjx_rollout(env)
    results = []
    for k, style in enumerate(styles):
        r = compare_style(env, gym_env, rollout, style, n_starts, horizon, threshold, seed + 97 * k)
        results.append({"task": name, **r})
    return results


def print_table(results: list[dict]) -> None:
    """One row per (task, style)."""
    steps = [k for k in REPORT_STEPS if k <= results[0]["horizon"]]
    print(f"{'task':25s} {'style':8s} {'N':>4s} {'obs max':>9s} {'obs med':>9s} {'>1e-3':>6s} "
          f"{'rew max':>9s} {'term!=':>6s} " + " ".join(f"{'err@' + str(k):>9s}" for k in steps)
          + f" {'div med':>7s} {'div min':>7s} {'tol obs':>8s} {'tol rew':>8s} ok")
    for r in results:
        tol = TOLERANCES[r["task"]]
        errs = " ".join(f"{r['rollout_obs_err'][str(k)]:9.2e}" for k in steps)
        bad = check(r["task"], r)
        print(f"{r['task']:25s} {r['style']:8s} {r['n']:4d} {r['obs_max']:9.2e} {r['obs_median']:9.2e} "
              f"{r['obs_share_1e-3']:6.1%} {r['rew_max']:9.2e} {r['term_mismatch']:6d} {errs} "
              f"{r['steps_to_div_median']:7.0f} {r['steps_to_div_min']:7d} {tol['obs']:8.0e} "
              f"{tol['reward']:8.0e} {'yes' if not bad else 'NO: ' + '; '.join(bad)}")


def print_markdown(results: list[dict], label: str = "") -> None:
    """Compact markdown rows: one-step max / median / share above 1e-3, reward
    max, median and minimum steps to divergence."""
    print("| task | style | MJX | N | obs max | obs median | > 1e-3 | reward max | steps to 1e-2 (median / min) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['task']} | {r['style']} | {label} | {r['n']} | {r['obs_max']:.1e} | {r['obs_median']:.1e} | "
              f"{r['obs_share_1e-3']:.1%} | {r['rew_max']:.1e} | {r['steps_to_div_median']:.0f} / "
              f"{r['steps_to_div_min']} of {r['horizon']} |")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="all", help="task name, comma list, or 'all'")
    parser.add_argument("--styles", default=",".join(STYLES), help="comma list of " + ", ".join(STYLES))
    parser.add_argument("--starts", type=int, default=64, help="Gymnasium-driven states per style")
    parser.add_argument("--horizon", type=int, default=50, help="rollout length H")
    parser.add_argument("--threshold", type=float, default=1e-2, help="divergence threshold")
    parser.add_argument("--x64", action="store_true", help="run MJX in float64")
    parser.add_argument("--match-options", action="store_true",
                        help="apply the MJX option changes (Humanoid: Newton) to the C model too")
    parser.add_argument("--solver-tolerance", type=float, default=None,
                        help="opt.tolerance of both models (v4: 1e-8), to expose solver stopping effects")
    parser.add_argument("--upstream", action="store_true",
                        help="MJX without the project's corrections (fpmd_mjx.envs.mjx_corrections)")
    parser.add_argument("--no-caps", action="store_true",
                        help="MJX with the XML's solver iteration limits, not the tasks' caps (TaskSpec.solver_caps)")
    parser.add_argument("--profile", default="faithful",
                        help="MJX physics profile (fpmd_mjx.envs.PROFILES: faithful, newton4, newton2, newton1)")
    parser.add_argument("--physics", default="jax", help="MJX backend: jax or warp (the warp extra)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="write results to this file")
    parser.add_argument("--table-from", default=None, help="re-print the table of a saved --json file")
    parser.add_argument("--markdown", action="store_true", help="with --table-from: compact markdown rows")
    args = parser.parse_args(argv)
    if args.table_from:
        with open(args.table_from) as f:
            saved = json.load(f)
        if args.markdown:
            a = saved["args"]
            label = ("float64" if a["x64"] else "float32") + (" upstream" if a.get("upstream") else "")
            print_markdown(saved["results"], label)
            return 0
        print(f"# parity (from {args.table_from}): {saved['args']}")
        print_table(saved["results"])
        return 0
    styles = tuple(s.strip() for s in args.styles.split(","))
    for s in styles:
        if s not in STYLES:
            print(f"error: unknown action style {s!r}; valid styles: {', '.join(STYLES)}", file=sys.stderr)
            return 2
    if args.x64:
        jax.config.update("jax_enable_x64", True)
    enable_compilation_cache()
    if args.upstream:
        mjx_corrections.uninstall()
    try:
        names = envs.names() if args.env == "all" else [envs.canonical_name(n) for n in args.env.split(",")]
        envs.base.check_profile(args.profile)
        for name in names:
            envs.base.check_physics(args.physics, envs.spec(name))
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    results = []
    for name in names:  # print and save after each task, so a long run is never lost
        t0 = time.perf_counter()
        results += compare_task(name, styles, args.starts, args.horizon, args.threshold, args.seed,
                                args.match_options, solver_tolerance=args.solver_tolerance,
                                solver_caps=not args.no_caps, profile=args.profile, physics=args.physics)
        print(f"# {name}: {time.perf_counter() - t0:.1f} s", flush=True)
        print_table([r for r in results if r["task"] == name])
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"args": vars(args), "results": results}, f)
    print(f"# parity: {args.starts} states per style, H={args.horizon}, threshold={args.threshold}, "
          f"x64={args.x64}, match_options={args.match_options}, upstream={args.upstream}, "
          f"solver caps={not args.no_caps}, profile={args.profile}, physics={args.physics}")
    print_table(results)
    return 0
