"""Replay fpmd_mjx checkpoints in the real Gymnasium v4 environments (C MuJoCo).

    python validation/gym_eval.py runs/hopper                      # newest + best checkpoint, the run's own rule
    python validation/gym_eval.py runs/hopper/best --episodes 20 --nfe 1,2,5,20
    python validation/gym_eval.py runs/hopper --policy sample,best_of_n   # both evaluation rules
    python validation/gym_eval.py runs/ip --json ip.json --check 0.1 --render ip.gif
    python validation/gym_eval.py --exported policy/               # a scripts/export_policy.py artifact

Everything comes from the checkpoint's metadata (task, algorithm, config); the
policy acts by the run's own evaluation rule (``eval_rule`` of its config, Table 1's
rule of the algorithm: ``sample``, the checkpoint's ``trainer.agent.sample``, or
``best_of_n`` for DPMD) at the run's evaluation NFE (one network evaluation per
action for FPMD, SAC, TD3 and PPO; DPMD's K-step chain), jitted, batch of one,
float32 observations, unless ``--policy`` or ``--nfe`` says otherwise.  Episode ``i`` resets with ``seed + i``; the policy key
of step ``t`` is ``fold_in(fold_in(PRNGKey(seed), i), t)``, so a run is repeatable.

The MJX column is the return recorded in the checkpoint at the same NFE
(``meta["eval_returns_by_nfe"]``) when the rule is the run's own; if the checkpoint holds none for that NFE, or
with ``--mjx-eval``, it is recomputed with ``trainer.evaluate`` on the same
parameters over ``--episodes`` MJX episodes.  rel gap = |gym - mjx| / max(|mjx|, 1).

``--exported DIR`` replays an artifact of ``scripts/export_policy.py`` (through
``fpmd_mjx.deploy``, with the same episode seeds and policy keys, so its returns equal
the source checkpoint's at the same NFE); its MJX column is the return the source
checkpoint recorded.

Exit status: 0 ok, 1 ``--check`` failed, 2 bad input (one ``error:`` line on stderr).
``validation/gym_eval.py`` is the command line (:func:`main`); :func:`evaluate_checkpoint`,
:func:`run_episodes` and :func:`make_act` serve other code (``fpmd_mjx.results_table``).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import jax
import numpy as np

from fpmd_mjx import deploy
from fpmd_mjx.checkpoint import CheckpointError, find_checkpoints, read_meta
from fpmd_mjx.config import from_dict
from fpmd_mjx.envs import foreign
from fpmd_mjx.envs.gym_reference import make_gym_env
from fpmd_mjx.envs.wrappers import scale_action
from fpmd_mjx.export import deploy_fns
from fpmd_mjx.jax_setup import enable_compilation_cache
from fpmd_mjx.rebuild import load_critic, load_intact_policy
from fpmd_mjx.train import make_train

VIDEO_EXTS = (".gif", ".mp4")
RULES = ("sample", "best_of_n")
RENDER_SIZE = (320, 240)  # width, height of --render frames


class EvalError(Exception):
    """Bad input, reported as one ``error:`` line and exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line instead of usage + message
        raise EvalError(message)


def parse_nfe(text: str) -> list[int]:
    """``"1,2,5"`` -> [1, 2, 5]; EvalError for anything but positive integers."""
    try:
        nfes = [int(p) for p in text.split(",")]
    except ValueError:
        nfes = []
    if not nfes or min(nfes) < 1:
        raise EvalError(f"--nfe must be positive integers separated by commas (e.g. 1 or 1,2,5), got {text!r}")
    return list(dict.fromkeys(nfes))


def parse_args(argv=None) -> argparse.Namespace:
    p = _Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("path", nargs="?", default=None,
                   help="checkpoint step dir, checkpoints/ or best/, a run dir, or a dir of runs")
    p.add_argument("--exported", default=None, metavar="DIR",
                   help="replay a policy artifact of scripts/export_policy.py instead of a checkpoint")
    p.add_argument("--episodes", type=int, default=10, help="Gymnasium episodes per checkpoint and NFE")
    p.add_argument("--seed", type=int, default=0, help="episode i resets with seed+i; policy key PRNGKey(seed)")
    p.add_argument("--nfe", default=None,
                   help="network evaluations per action; a list 1,2,5,20 sweeps (default: the run's evaluation NFE)")
    p.add_argument("--policy", default=None,
                   help="evaluation rule(s), comma list of: sample (one sample, no noise: the paper's NFE-1 "
                        "numbers), best_of_n (best of num_particles candidates by min-Q, no noise: the "
                        "released code's 'deterministic' policy, Table 1's DPMD rule); default: the run's "
                        "own eval_rule")
    p.add_argument("--mjx-eval", action="store_true",
                   help="recompute the MJX return with trainer.evaluate over --episodes episodes")
    p.add_argument("--json", default=None, metavar="FILE", help="write the rows and aggregate as JSON")
    p.add_argument("--check", type=float, default=None, metavar="TOL",
                   help="exit 1 if any relative gap |gym - mjx| / max(|mjx|, 1) exceeds TOL")
    p.add_argument("--render", default=None, metavar="OUT.gif|OUT.mp4",
                   help="video of the first episode (.mp4 needs imageio-ffmpeg; .gif works with pillow)")
    args = p.parse_args(argv)
    if (args.path is None) == (args.exported is None):
        raise EvalError("give a checkpoint path or --exported DIR (one of the two)")
    if args.exported and (args.nfe is not None or args.policy is not None or args.mjx_eval or args.render):
        raise EvalError("--exported replays the artifact as exported: --nfe, --policy, --mjx-eval and --render "
                        "apply to checkpoints only")
    args.nfe = parse_nfe(args.nfe) if args.nfe is not None else None
    args.policy = [r.strip() for r in args.policy.split(",") if r.strip()] if args.policy is not None else None
    for rule in args.policy or ():
        if rule not in RULES:
            raise EvalError(f"--policy {rule!r} is not a rule; valid: {', '.join(RULES)}")
    if args.episodes < 1:
        raise EvalError(f"--episodes must be >= 1, got {args.episodes}")
    if args.render and not args.render.lower().endswith(VIDEO_EXTS):
        raise EvalError(f"--render must name a .gif or .mp4 file, got {args.render!r}")
    return args


def pick_gl_backend() -> None:
    """Set MUJOCO_GL to the first offscreen backend (egl, osmesa) that renders here.

    Probed in a subprocess, each backend in a fresh interpreter. Gymnasium's renderer reads
    MUJOCO_GL when it makes its first frame and PyOpenGL fixes its platform when first
    imported, so this does nothing if MUJOCO_GL is set or PyOpenGL is already imported.
    """
    if "MUJOCO_GL" in os.environ or "OpenGL" in sys.modules:
        return
    probe = ("import mujoco; m = mujoco.MjModel.from_xml_string('<mujoco/>'); "
             "mujoco.Renderer(m, 16, 16).render()")
    for backend in ("egl", "osmesa"):
        env = {**os.environ, "MUJOCO_GL": backend}
        ok = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, timeout=120).returncode == 0
        if ok:
            os.environ["MUJOCO_GL"] = backend
            return


def load_checkpoints(path: str) -> list[tuple]:
    """``[(step_dir, cfg, trainer, params, meta)]`` for every checkpoint under ``path``."""
    try:
        dirs = find_checkpoints(path)
        for d in dirs:
            env = read_meta(d).get("env", "")
            if foreign.is_foreign(env):
                raise EvalError(f"checkpoint {d!r} was trained on {env}, which has no Gymnasium counterpart "
                                f"(Gymnasium replays cover the project's v4 tasks)")
        return [load_intact_policy(d) for d in dirs]
    except CheckpointError as e:
        raise EvalError(str(e)) from None


def build_gym_env(task: str, render: bool):
    """The Gymnasium v4 env of ``task``; EvalError if this install cannot build it."""
    kwargs = dict(render_mode="rgb_array", width=RENDER_SIZE[0], height=RENDER_SIZE[1]) if render else {}
    try:
        return make_gym_env(task, **kwargs)
    except Exception as e:  # noqa: BLE001 - gymnasium raises many kinds (DependencyNotInstalled, ImportError, ...)
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise EvalError(f"cannot build the Gymnasium env for task {task!r} on this install: {msg}") from None


def check_spaces(gym_env, trainer) -> None:
    """The Gymnasium env must match the MJX port's observation size and action range."""
    env = trainer.env
    obs_shape, act = gym_env.observation_space.shape, gym_env.action_space
    if obs_shape != (env.observation_size,) or act.shape != (env.action_size,):
        raise EvalError(f"{trainer.cfg.env}: Gymnasium obs/action shapes {obs_shape}/{act.shape} differ from "
                        f"the MJX port's ({env.observation_size},)/({env.action_size},)")
    if not (np.allclose(act.low, env.action_low) and np.allclose(act.high, env.action_high)):
        raise EvalError(f"{trainer.cfg.env}: Gymnasium action range differs from the MJX port's")


def make_act(trainer, nfe: int, rule: str = "sample"):
    """``(prepare, act)``: ``prepare(params) -> dparams`` once per checkpoint, and the jitted
    ``act(dparams, obs (1, d) f32, episode_key, t) -> action (1, act_dim)`` in the actuator range.

    One call per action: the evaluation policy of ``scripts/export_policy.py``
    (``rule="sample"``: ``agent.sample``, its parameter-only part prepared once) or
    ``trainer.agent.best_of_n`` (params = (policy, critic)) with key ``fold_in(episode_key, t)``.
    """
    if rule == "sample":  # the very functions scripts/export_policy.py exports
        prepare, policy = deploy_fns(trainer.agent, trainer.env, nfe)
    else:
        def prepare(params):
            return params

        def policy(params, obs, key):
            return scale_action(trainer.env, trainer.agent.best_of_n(params, obs, key, nfe))

    def act(dparams, obs, key, t):
        return policy(dparams, obs, jax.random.fold_in(key, t))

    return prepare, jax.jit(act)


def make_exported_act(policy):
    """``act`` of :func:`make_act`'s signature for an exported policy (``fpmd_mjx.deploy``):
    the same keys, the same computation (params are inside ``policy``)."""
    def act(params, obs, key, t):
        del params
        return policy(obs, jax.random.fold_in(key, t))

    return act


def evaluate_exported(path: str, args) -> list[dict]:
    """One row for an exported artifact: its Gymnasium return beside the MJX return its
    source checkpoint recorded at the same NFE."""
    try:
        policy = deploy.load(path)
    except deploy.DeployError as e:
        raise EvalError(str(e)) from None
    meta = policy.meta
    gym_env = build_gym_env(meta["task"], render=False)
    if gym_env.observation_space.shape != (policy.obs_dim,) or gym_env.action_space.shape != (policy.act_dim,):
        raise EvalError(f"{path!r}: the Gymnasium env of {meta['task']!r} does not fit the policy's sizes "
                        f"({policy.obs_dim} -> {policy.act_dim})")
    res = run_episodes(gym_env, make_exported_act(policy), None, args.episodes, args.seed)
    gym_env.close()
    mjx = meta.get("mjx_eval_return")
    return [{
        "checkpoint": os.path.basename(os.path.normpath(path)), "path": os.path.abspath(path), "task": meta["task"],
        "gym_id": meta.get("gym_id"), "algo": meta["algo"], "seed": meta.get("source_seed"),
        "env_steps": meta.get("source_env_steps"), "nfe": meta["nfe"], "policy": "exported",
        "episodes": args.episodes, "mjx_source": "meta", "mjx_episodes": None,
        **_scores(res, float("nan") if mjx is None else float(mjx))}]


def _scores(res: dict, mjx: float) -> dict:
    """The Gymnasium columns of one row (``res`` of :func:`run_episodes`) beside ``mjx``."""
    gym = float(np.mean(res["returns"]))
    return {"gym_return_mean": gym, "gym_return_std": float(np.std(res["returns"])), "gym_returns": res["returns"],
            "episode_length_mean": float(np.mean(res["lengths"])), "mjx_return": mjx, "abs_gap": abs(gym - mjx),
            "rel_gap": abs(gym - mjx) / max(abs(mjx), 1.0), "infer_ms_median": res["infer_ms"]}


def run_episodes(gym_env, act, params, episodes: int, seed: int, frames: list | None = None) -> dict:
    """Roll ``episodes`` episodes to termination or truncation.

    Returns ``{"returns", "lengths", "infer_ms"}``: per-episode returns and lengths
    and the median wall time of one jitted policy call (incl. block_until_ready).
    ``frames``, if given, collects rgb frames of episode 0 (cleared if rendering fails).
    """
    base = jax.random.PRNGKey(seed)
    obs_dim = gym_env.observation_space.shape[0]
    act(params, np.zeros((1, obs_dim), np.float32), base, 0).block_until_ready()  # compile (warm-up)
    returns, lengths, times = [], [], []
    for i in range(episodes):
        key = jax.random.fold_in(base, i)
        obs, _ = gym_env.reset(seed=seed + i)
        render = frames is not None and i == 0 and _grab(gym_env, frames)
        ret, t, done = 0.0, 0, False
        while not done:
            tic = time.perf_counter()
            a = act(params, np.asarray(obs, np.float32)[None], key, t).block_until_ready()
            times.append(time.perf_counter() - tic)
            obs, reward, terminated, truncated, _ = gym_env.step(np.asarray(a[0], np.float64))
            ret, t, done = ret + float(reward), t + 1, terminated or truncated
            render = render and _grab(gym_env, frames)
        returns.append(ret)
        lengths.append(t)
    return {"returns": returns, "lengths": lengths, "infer_ms": 1e3 * float(np.median(times))}


def _grab(gym_env, frames: list) -> bool:
    """Append one rendered frame; on the first GL failure say so once and stop rendering."""
    try:
        frames.append(gym_env.render())
        return True
    except Exception as e:  # noqa: BLE001 - GL backends fail in many ways
        frames.clear()
        print(f"note: no working OpenGL backend for --render (MUJOCO_GL={os.environ.get('MUJOCO_GL', 'unset')}: "
              f"{type(e).__name__}); tried egl and osmesa; continuing without the video", file=sys.stderr)
        return False


def write_video(path: str, frames: list, fps: float) -> None:
    import imageio.v2 as imageio

    if not frames:
        return
    try:
        if path.lower().endswith(".gif"):
            imageio.mimsave(path, frames, duration=1000.0 / fps, loop=0)
        else:
            imageio.mimsave(path, frames, fps=fps)
        print(f"wrote {path} ({len(frames)} frames)", file=sys.stderr)
    except Exception as e:  # noqa: BLE001
        print(f"note: could not write {path} ({type(e).__name__}); .mp4 needs imageio-ffmpeg "
              "(pip install imageio-ffmpeg), .gif works with pillow", file=sys.stderr)


def mjx_reference(cfg, params, meta: dict, nfe: int, episodes: int, seed: int, recompute: bool,
                  rule: str = "sample") -> tuple:
    """``(mjx_return, source, mjx_episodes)`` at ``nfe``: from meta (when ``rule`` is the
    run's own ``cfg.eval_rule``, the rule the recorded returns used), else
    ``trainer.evaluate`` with the rule."""
    recorded = meta.get("eval_returns_by_nfe", {}).get(str(nfe))
    if recorded is None and nfe == meta.get("eval_nfe"):
        recorded = meta.get("eval_return")
    if recorded is not None and not recompute and rule == cfg.eval_rule:
        return float(recorded), "meta", cfg.eval_episodes
    trainer = make_train(from_dict({**cfg.to_dict(), "eval_episodes": episodes}))
    returns, _ = jax.jit(trainer.evaluate, static_argnums=(2, 3))(params, jax.random.PRNGKey(seed), nfe, rule)
    return float(np.mean(returns)), "evaluate", episodes


def _label(step_dir: str, root: str) -> str:
    """Short name of a checkpoint relative to the path given, e.g. ``seed_1/best/20000``."""
    rel = os.path.relpath(step_dir, root)
    return os.path.basename(step_dir.rstrip("/")) if rel == "." else rel


def evaluate_checkpoint(ckpt: tuple, args, label: str, frames: list | None) -> list[dict]:
    """One row per rule and NFE for one loaded checkpoint (default: the run's own
    evaluation rule at its evaluation NFE)."""
    step_dir, cfg, trainer, params, meta = ckpt
    rules, nfes = args.policy or [cfg.eval_rule], args.nfe or [trainer.agent.eval_nfe]
    rule_params = {"sample": params}
    if "best_of_n" in rules:
        if trainer.agent.best_of_n is None:
            raise EvalError(f"best_of_n: algo {cfg.algo!r} has no best-of-N rule "
                            "(fpmd_r, fpmd_m and dpmd have one)")
        try:
            rule_params["best_of_n"] = (params, load_critic(step_dir, trainer))
        except CheckpointError as e:
            raise EvalError(f"best_of_n: {e}") from None
    gym_env = build_gym_env(cfg.env, render=frames is not None)
    check_spaces(gym_env, trainer)
    rows = []
    for j, (rule, nfe) in enumerate((r, n) for r in rules for n in nfes):
        prepare, act = make_act(trainer, nfe, rule)
        res = run_episodes(gym_env, act, prepare(rule_params[rule]), args.episodes, args.seed,
                           frames if j == 0 else None)
        if frames is not None and j == 0 and args.render:
            write_video(args.render, frames, gym_env.metadata.get("render_fps", 30))
        mjx, source, mjx_eps = mjx_reference(cfg, rule_params[rule], meta, nfe, args.episodes, args.seed,
                                             args.mjx_eval, rule)
        rows.append({
            "checkpoint": label, "path": os.path.abspath(step_dir), "task": cfg.env, "gym_id": meta.get("gym_id"),
            "algo": cfg.algo, "seed": meta.get("seed"), "env_steps": meta.get("env_steps"), "nfe": nfe,
            "policy": rule, "episodes": args.episodes, "mjx_source": source, "mjx_episodes": mjx_eps,
            **_scores(res, mjx)})
    gym_env.close()
    return rows


def aggregate(rows: list[dict]) -> list[dict]:
    """Per NFE, the mean over checkpoints of the numeric columns."""
    keys = ("gym_return_mean", "gym_return_std", "episode_length_mean", "mjx_return", "abs_gap", "rel_gap",
            "infer_ms_median")
    out = []
    for rule, nfe in dict.fromkeys((r["policy"], r["nfe"]) for r in rows):
        sel = [r for r in rows if (r["policy"], r["nfe"]) == (rule, nfe)]
        out.append({"checkpoint": f"mean of {len(sel)}", "nfe": nfe, "policy": rule, "task": sel[0]["task"],
                    "algo": sel[0]["algo"], **{k: float(np.mean([r[k] for r in sel])) for k in keys}})
    return out


def format_table(rows: list[dict], agg: list[dict]) -> str:
    head = (f"{'checkpoint':<24s} {'task':<18s} {'algo':<7s} {'seed':>4s} {'steps':>8s} {'policy':>9s} {'nfe':>3s} "
            f"{'gym return':>19s} {'len':>7s} {'mjx return':>10s} {'src':>4s} {'|gap|':>8s} {'rel':>6s} {'ms/act':>6s}")
    lines = [head, "-" * len(head)]
    for r in rows + (agg if len(rows) > len({(r["policy"], r["nfe"]) for r in rows}) else []):
        lines.append(
            f"{r['checkpoint'][-24:]:<24s} {r['task']:<18s} {r['algo']:<7s} {str(r.get('seed', '')):>4s} "
            f"{str(r.get('env_steps', '')):>8s} {r['policy']:>9s} {r['nfe']:>3d} "
            f"{r['gym_return_mean']:>9.2f} ± {r['gym_return_std']:<7.2f} {r['episode_length_mean']:>7.1f} "
            f"{r['mjx_return']:>10.2f} {r.get('mjx_source', '')[:4]:>4s} {r['abs_gap']:>8.2f} {r['rel_gap']:>6.3f} "
            f"{r['infer_ms_median']:>6.3f}")
    return "\n".join(lines)


def main(argv=None) -> int:
    try:
        args = parse_args(argv)
        if args.render:
            pick_gl_backend()
        enable_compilation_cache()
        rows = evaluate_exported(args.exported, args) if args.exported else []
        for k, ckpt in enumerate(load_checkpoints(args.path) if args.path else []):
            frames = [] if (args.render and k == 0) else None
            rows += evaluate_checkpoint(ckpt, args, _label(ckpt[0], args.path), frames)
    except EvalError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    agg = aggregate(rows)
    print(format_table(rows, agg))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "aggregate": agg, "episodes": args.episodes, "seed": args.seed}, f, indent=1)
    if args.check is not None:
        bad = [r for r in rows if not r["rel_gap"] <= args.check]
        if bad:
            worst = max(bad, key=lambda r: r["rel_gap"])
            print(f"check failed: {len(bad)} of {len(rows)} rows have relative gap > {args.check} "
                  f"(worst {worst['rel_gap']:.3f}: {worst['checkpoint']} nfe={worst['nfe']})", file=sys.stderr)
            return 1
    return 0
