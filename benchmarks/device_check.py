"""One unattended measurement session on an accelerator, in a fixed time budget.

    python benchmarks/device_check.py --download-wheels wheels/          # once, with a network: cp312 wheels
    python benchmarks/device_check.py --wheels wheels/ --out results/     # on the GPU machine (<= 9 min)
    python benchmarks/device_check.py --smoke --out /tmp/device_check     # the same steps, tiny, on CPU

(``python scripts/device_check.py ...``, the runbook's path, forwards here.)

For a machine that has Python, CUDA jax, flax, optax, chex and orbax but neither a
package index nor mujoco, mjx, brax, gymnasium or flashbax: ``--wheels DIR`` installs
the wheels carried in DIR (``--download-wheels`` fetches them for CPython 3.12,
manylinux x86_64) before anything else is imported, without dependencies and without
an index. Then, each step only if the budget (``--budget-s``, default 540 s) allows,
everything printed and written under ``--out`` as it completes (``results.json``,
``report.md``):

1. **latency**: MJX env steps (random actions, one compiled scan) for Hopper and Ant at
   batch 1, 5, 25, 64 and 512, physics profiles ``faithful`` and ``newton1``
   (``fpmd_mjx.envs.PROFILES``), on MJX's JAX backend and, when the warp-lang wheel came
   along (whole or split into ``*.whl.part<k>of<N>`` files, reassembled here), on MuJoCo Warp:
   ms per vector step and env steps/s;
2. **training iteration** at the paper's shape (FPMD-M on Hopper: 5 envs, 1 update per
   step, the paper's networks) for 1, 5 and 10 seeds in one program: ms per iteration,
   the cost of K seeds relative to 1, and the projected wall-clock of 1M env steps x K
   seeds; then one seed again in a fresh process with XLA's GPU loop flags
   (``FPMD_MJX_GPU_LOOPS=1``, ``fpmd_mjx.jax_setup.gpu_loop_flags``);
3. **learning**: one Table-1 cell by Table 1's protocol (``validation/protocol.py``):
   FPMD-M on Hopper from ``configs/fpmd_m.yaml`` unchanged, 5 seeds in one program, the
   best evaluation return by the algorithm's Table-1 rule (``eval_rule``). Only the
   budget is cut to the minutes left (sized from step 2's rate; ``total_steps`` is a loop
   field, so the run is an exact prefix of the full one and ``scripts/train.py --resume``
   on its directory continues it); a run that reaches the paper's budget has its best
   checkpoints replayed in Gymnasium v4 (``validation/gym_eval.py``). Run directory with
   metrics, checkpoints and ``curve.png``.

``--smoke`` runs the same code on InvertedPendulum with tiny sizes (the test suite runs it).
"""
from __future__ import annotations

import argparse
import glob
import importlib
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# Packages a bare machine lacks (import name -> wheel name), in install order.
CARRIED = {"mujoco": "mujoco", "mujoco.mjx": "mujoco-mjx", "brax": "brax", "gymnasium": "gymnasium",
           "flashbax": "flashbax", "flatbuffers": "flatbuffers", "yaml": "pyyaml", "tqdm": "tqdm",
           "tensorboardX": "tensorboardX", "trimesh": "trimesh", "jaxopt": "jaxopt",
           "ml_collections": "ml_collections", "dm_env": "dm_env", "cloudpickle": "cloudpickle",
           "farama_notifications": "farama-notifications"}
WHEELS = ("mujoco==4.0.0", "mujoco-core==4.0.0", "mujoco-studio==4.0.0", "mujoco-mjx==3.17.0", "brax==0.14.2",
          "gymnasium==1.4.0", "flashbax==0.1.3", "flatbuffers", "pyyaml", "tqdm", "tensorboardX", "trimesh",
          "jaxopt", "ml_collections", "dm_env", "cloudpickle", "farama-notifications", "glfw", "pyopengl")

FULL = dict(tasks=("hopper", "ant"), batches=(1, 5, 25, 64, 512), profiles=("faithful", "newton1"), steps=50,
            physics=("jax", "warp"),
            train_env="hopper", seeds=(1, 5, 10), iters=100, learn_seeds=5, max_learn_steps=None, overrides={},
            learn_overrides={})
SMOKE = dict(tasks=("inverted_pendulum",), batches=(5,), profiles=("faithful", "newton1"), steps=5,
             physics=("jax",),  # Warp on a CPU takes minutes (tests/test_warp.py covers it)
             train_env="inverted_pendulum", seeds=(1,), iters=4, learn_seeds=1, max_learn_steps=256,
             overrides=dict(num_envs=4, hidden_sizes=[16, 16], num_particles=4, batch_size=16, buffer_size=512,
                            eval_episodes=2, time_embed_dim=8))
# the smoke's "protocol": tiny, and short enough to finish (so its Gymnasium replay runs too)
# (and, but for the loop fields, the iteration step's config: the learning run reuses its compiled programs)
SMOKE["learn_overrides"] = dict(SMOKE["overrides"], total_steps=256, warmup_steps=64, eval_every=64,
                                checkpoint_every=128, chunk_iterations=SMOKE["iters"])


PART_BYTES = 60 * 2**20  # a wheel larger than this travels as *.whl.part<k>of<N> files


def download_wheels(dest: str, warp: bool = False) -> int:
    """``pip download`` the carried wheels for CPython 3.12 on manylinux x86_64 into ``dest``;
    with ``warp``, also warp-lang (149 MB), split into parts of at most 60 MiB."""
    cmd = [sys.executable, "-m", "pip", "download", "--only-binary=:all:", "--python-version", "3.12",
           "--implementation", "cp", "--no-deps", "-d", dest]
    for plat in ("manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux_2_28_x86_64"):
        cmd += ["--platform", plat]
    rc = subprocess.call(cmd + list(WHEELS) + (["warp-lang==1.18.0"] if warp else []))
    for path in glob.glob(os.path.join(dest, "*.whl")):
        if os.path.getsize(path) > PART_BYTES:
            split_wheel(path)
    return rc


def split_wheel(path: str) -> list[str]:
    """Replace ``path`` by ``path.part0of<N>`` .. ``path.part<N-1>of<N>``, each at most PART_BYTES."""
    n = -(-os.path.getsize(path) // PART_BYTES)
    parts = []
    with open(path, "rb") as f:
        for k in range(n):
            parts.append(f"{path}.part{k}of{n}")
            with open(parts[-1], "wb") as g:
                g.write(f.read(PART_BYTES))
    os.remove(path)
    return parts


def join_wheels(folder: str) -> list[str]:
    """Reassemble every ``*.whl.part<k>of<N>`` set in ``folder`` whose N parts are all
    there; returns the wheels written."""
    sets = {}
    for part in glob.glob(os.path.join(folder, "*.whl.part*of*")):
        base, _, tail = part.rpartition(".part")
        k, _, n = tail.partition("of")
        if k.isdigit() and n.isdigit():
            sets.setdefault((base, int(n)), {})[int(k)] = part
    done = []
    for (base, n), parts in sets.items():
        if os.path.exists(base) or sorted(parts) != list(range(n)):
            continue
        with open(base + ".tmp", "wb") as out:
            for k in range(n):
                with open(parts[k], "rb") as f:
                    out.write(f.read())
        os.replace(base + ".tmp", base)
        done.append(base)
    return done


def install_missing(wheels: str) -> list[str]:
    """Install every wheel in ``wheels`` (no index, no dependencies) when a carried package
    is missing; returns the import names still missing afterwards."""
    join_wheels(wheels)
    missing = [m for m in CARRIED if importlib.util.find_spec(m.split(".")[0]) is None]
    if importlib.util.find_spec("warp") is None and glob.glob(os.path.join(wheels, "warp_lang-*.whl")):
        missing.append("warp")
    files = sorted(glob.glob(os.path.join(wheels, "*.whl")))
    if missing and files:
        print(f"installing {len(files)} wheels from {wheels} (missing: {', '.join(missing)})", flush=True)
        subprocess.call([sys.executable, "-m", "pip", "install", "--no-index", "--no-deps", "--quiet", *files])
        importlib.invalidate_caches()
    return [m for m in CARRIED if importlib.util.find_spec(m.split(".")[0]) is None]


class Session:
    """Budget keeping and incremental writing of results.json / report.md."""

    def __init__(self, out: str, budget_s: float):
        self.out, self.t0, self.budget = out, time.time(), budget_s
        self.results, self.report = {}, []
        os.makedirs(out, exist_ok=True)

    def left(self) -> float:
        return self.budget - (time.time() - self.t0)

    def add(self, key: str, value, lines: list[str]) -> None:
        self.results[key] = value
        self.report += lines + [""]
        print("\n".join(lines), flush=True)
        with open(os.path.join(self.out, "results.json"), "w") as f:
            json.dump(self.results, f, indent=1, default=str)
        with open(os.path.join(self.out, "report.md"), "w") as f:
            f.write("\n".join(self.report) + "\n")


def latency(s: Session, plan: dict, share: float = 0.35) -> None:
    from benchmarks.bench_envs import bench_mjx

    from fpmd_mjx.envs.base import check_physics

    rows = ["| task | physics | profile | batch | ms / vector step | env steps/s |", "|---|---|---|---|---|---|"]
    found = []
    backends = ["jax"]
    if "warp" in plan["physics"]:
        try:
            backends.append(check_physics("warp"))
        except ValueError as e:
            rows.append(f"| (warp) | not measured: {e} | | | | |")
    order = [(t, ph, p, b) for ph in backends for p in plan["profiles"] for t in plan["tasks"]
             for b in plan["batches"]]
    for task, phys, prof, batch in order:
        if s.budget - s.left() > share * s.budget:
            rows.append(f"| {task} | {phys} | {prof} | {batch} | not measured (budget) | |")
            continue
        try:
            r = bench_mjx(task, batch, plan["steps"], profile=prof, physics=phys)
        except Exception as e:  # noqa: BLE001 - one failed row must not end an unattended session
            rows.append(f"| {task} | {phys} | {prof} | {batch} | failed: {type(e).__name__}: "
                        f"{str(e).splitlines()[0][:80] if str(e) else ''} | |")
            continue
        found.append({"task": task, "physics": phys, "profile": prof, "batch": batch,
                      "steps_per_s": r["steps_per_s"], "ms_per_vector_step": 1e3 * batch / r["steps_per_s"],
                      "compile_s": r["compile_s"]})
        rows.append(f"| {task} | {phys} | {prof} | {batch} | {found[-1]['ms_per_vector_step']:.3f} | "
                    f"{r['steps_per_s']:,.0f} |")
        print(rows[-1], flush=True)
    s.add("latency", found, ["## MJX env-step latency", *rows])


def train_config(plan: dict, **kw):
    from fpmd_mjx.config import load_config

    over = {"warmup_steps": 64, "buffer_size": 100_000, **plan["overrides"], **kw}
    return load_config("fpmd_m", plan["train_env"], over)


def iteration_cost(s: Session, plan: dict) -> dict:
    """ms per training iteration of FPMD-M at the paper's shape for each seed count."""
    import jax

    from fpmd_mjx.programs import programs

    out = {}
    for k in plan["seeds"]:
        if s.left() < 0.4 * s.budget:
            break
        cfg = train_config(plan, chunk_iterations=plan["iters"])
        progs = programs(cfg, k)
        keys = jax.numpy.stack([jax.random.PRNGKey(i) for i in range(k)])
        state = progs.warmup({}, progs.init({}, keys))
        t = time.perf_counter()
        state = jax.block_until_ready(progs.chunk({}, state)[0])
        compile_s = time.perf_counter() - t
        t = time.perf_counter()
        jax.block_until_ready(progs.chunk({}, state)[0])
        ms = 1e3 * (time.perf_counter() - t) / plan["iters"]
        out[k] = {"ms_per_iteration": ms, "compile_s": compile_s, "num_envs": cfg.num_envs,
                  "env_steps_per_s": 1e3 * cfg.num_envs * k / ms}
    one = out.get(plan["seeds"][0])
    lines = ["## Training iteration (FPMD-M, paper shape)", "| seeds | ms / iteration | env steps/s (all seeds) | "
             "x one seed | 1M env steps x seeds |", "|---|---|---|---|---|"]
    for k, r in out.items():
        r["vs_one_seed"] = r["ms_per_iteration"] / one["ms_per_iteration"]
        r["projected_1m_s"] = 1e6 / r["num_envs"] * r["ms_per_iteration"] / 1e3
        lines.append(f"| {k} | {r['ms_per_iteration']:.2f} | {r['env_steps_per_s']:,.0f} | {r['vs_one_seed']:.2f} "
                     f"| {r['projected_1m_s'] / 60:.1f} min |")
    s.add("iteration", out, lines)
    return out


def gpu_loops(s: Session, plan: dict, iteration: dict, args, share: float = 0.2) -> None:
    """Step 2 for one seed again, in a fresh process with FPMD_MJX_GPU_LOOPS=1 (the flags
    must be set before JAX starts), beside the default flags' figure."""
    from fpmd_mjx.jax_setup import GPU_LOOP_FLAGS

    one = iteration.get(plan["seeds"][0])
    if one is None or s.left() < 0.5 * s.budget:
        s.add("gpu_loops", None, ["## GPU loop flags: not measured (budget)"])
        return
    out = os.path.join(s.out, "gpu_loops")
    cmd = [sys.executable, os.path.abspath(__file__), "--only-iteration", "--out", out,
           "--budget-s", str(share * s.budget)] + (["--smoke"] if args.smoke else [])
    env = {**os.environ, "FPMD_MJX_GPU_LOOPS": "1"}
    try:
        subprocess.run(cmd, env=env, timeout=share * s.budget + 60, check=False)
        with open(os.path.join(out, "results.json")) as f:
            flagged = json.load(f)["iteration"][str(plan["seeds"][0])]
    except (subprocess.TimeoutExpired, OSError, KeyError, ValueError) as e:
        s.add("gpu_loops", None, [f"## GPU loop flags: not measured ({type(e).__name__})"])
        return
    ratio = flagged["ms_per_iteration"] / one["ms_per_iteration"]
    s.add("gpu_loops", {"default": one, "flags": flagged, "ratio": ratio},
          ["## GPU loop flags (FPMD_MJX_GPU_LOOPS=1, one seed, paper shape)",
           "| XLA flags | ms / iteration |", "|---|---|",
           f"| default | {one['ms_per_iteration']:.2f} |",
           f"| {' '.join(GPU_LOOP_FLAGS)} | "
           f"{flagged['ms_per_iteration']:.2f} ({ratio:.2f}x) |"])


def learning_iterations(left_s: float, ms_per_iteration: float, compile_s: float, warmup_steps: int,
                        num_envs: int, share: float = 0.7) -> int:
    """Training iterations (vector steps with their updates) that fit in ``left_s`` seconds
    once the learning run's fixed costs are paid: its compilation, taken as twice step 2's
    (the runner compiles warm-up, training and evaluation programs), and its warm-up of
    ``warmup_steps`` env steps, each vector step of which costs at most one iteration (it
    runs no update). ``share`` of what is left trains; the rest covers the evaluations and
    checkpoints. 0 when nothing fits."""
    fixed_s = 2 * compile_s + warmup_steps / num_envs * ms_per_iteration / 1e3
    return max(0, int(share * (left_s - fixed_s) * 1e3 / ms_per_iteration))


def learning(s: Session, plan: dict, iteration: dict) -> None:
    """A prefix of one Table-1 cell (FPMD-M on ``train_env``, the paper config, ``learn_seeds``
    seeds) for the time left; replayed in Gymnasium when it reaches the paper's budget."""
    from fpmd_mjx.config import load_config
    from fpmd_mjx.rundir import save_run_info
    from fpmd_mjx.runner import run

    k = plan["learn_seeds"]
    rate = iteration.get(k) or next(iter(iteration.values()), None)
    protocol = load_config("fpmd_m", plan["train_env"], plan["learn_overrides"])
    iters = 0 if rate is None else learning_iterations(s.left(), rate["ms_per_iteration"], rate["compile_s"],
                                                       protocol.warmup_steps, protocol.num_envs)
    if iters < 2:
        s.add("learning", None, ["## Learning run", "not run (budget)"])
        return
    fits = protocol.warmup_steps + iters * protocol.num_envs
    steps = min(protocol.total_steps, fits, plan["max_learn_steps"] or fits)
    cfg = protocol.replace(total_steps=steps)
    finished = steps >= protocol.total_steps
    out = os.path.join(s.out, "learning")
    save_run_info(out, cfg, k)
    t = time.time()
    res = run(cfg, out, num_seeds=k, progress=False)
    title = f"{cfg.env}, {cfg.algo}, Table 1's protocol" if plan is FULL else "smoke"
    lines = [f"## Learning run ({title})",
             f"{res.env_steps} of {protocol.total_steps} env steps ({cfg.updates_at(res.env_steps)} of "
             f"{protocol.updates} updates) x {k} seeds in {time.time() - t:.0f} s; rule {cfg.eval_rule} "
             f"@ NFE {res.eval_nfe}, {cfg.eval_episodes} episodes every {cfg.eval_every} env steps",
             f"best MJX eval return per seed (Table 1's statistic): {[round(x, 1) for x in res.best_returns]}; "
             f"last: {[round(x, 1) for x in res.eval_returns]}"]
    gym = replay_best(res.run_dirs, cfg.eval_episodes, os.path.join(s.out, "gym_eval")) if finished else None
    lines.append(f"Gymnasium v4 return of each seed's best checkpoint: {gym}" if finished else
                 "partial cell: no Gymnasium replay until the run reaches the paper's budget "
                 "(continue with scripts/train.py --resume on the run directory)")
    try:
        from scripts.plot_curves import load_run, plot

        plot([load_run(out)], os.path.join(s.out, "curve.png"))
        lines.append("curve: curve.png")
    except ImportError as e:  # matplotlib is optional on the device
        lines.append(f"no curve ({e})")
    s.add("learning", {"env_steps": res.env_steps, "updates": cfg.updates_at(res.env_steps),
                       "protocol_env_steps": protocol.total_steps, "protocol_updates": protocol.updates,
                       "finished": finished, "seeds": k, "eval_rule": cfg.eval_rule, "eval_nfe": res.eval_nfe,
                       "eval_returns": res.eval_returns, "best_returns": res.best_returns, "gym_returns": gym,
                       "config": cfg.to_dict()}, lines)


def replay_best(run_dirs: list, episodes: int, out: str) -> list:
    """Each run's best checkpoint replayed in Gymnasium v4 by the run's own rule: the mean
    return per run (``fpmd_mjx.gym_eval``, its JSON beside it in ``out``; None where
    the replay failed, e.g. without gymnasium)."""
    from fpmd_mjx import gym_eval

    os.makedirs(out, exist_ok=True)
    returns = []
    for k, run_dir in enumerate(run_dirs):
        path = os.path.join(out, f"run_{k}.json")
        if gym_eval.main([os.path.join(run_dir, "best"), "--episodes", str(episodes), "--json", path]) != 0:
            returns.append(None)
            continue
        with open(path) as f:
            returns.append(round(json.load(f)["rows"][-1]["gym_return_mean"], 1))
    return returns


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=None, help="results folder (required unless --download-wheels)")
    p.add_argument("--wheels", default=None, help="folder of carried wheels to install when packages are missing")
    p.add_argument("--download-wheels", default=None, metavar="DIR", help="fetch the cp312 wheels into DIR and exit")
    p.add_argument("--budget-s", type=float, default=540.0, help="wall-clock budget of the session")
    p.add_argument("--smoke", action="store_true", help="tiny sizes on InvertedPendulum (tests, CPU)")
    p.add_argument("--warp", action="store_true", help="with --download-wheels: warp-lang too, in 60 MiB parts")
    p.add_argument("--only-iteration", action="store_true",
                   help="step 2 for one seed only (what the GPU-loop-flags step runs in a fresh process)")
    args = p.parse_args(argv)
    if args.download_wheels:
        return download_wheels(args.download_wheels, args.warp)
    if not args.out:
        print("error: --out is required (or --download-wheels DIR)", file=sys.stderr)
        return 2
    if args.wheels:
        still = install_missing(args.wheels)
        if still:
            print(f"error: still missing after installing {args.wheels}: {', '.join(still)}", file=sys.stderr)
            return 2
    s = Session(args.out, args.budget_s)
    from fpmd_mjx.jax_setup import enable_compilation_cache

    enable_compilation_cache()
    import jax

    plan = SMOKE if args.smoke else FULL
    if args.only_iteration:
        iteration_cost(s, {**plan, "seeds": plan["seeds"][:1]})
        return 0
    dev = jax.devices()[0]
    s.add("device", {"platform": dev.platform, "kind": dev.device_kind, "jax": jax.__version__,
                     "budget_s": args.budget_s, "smoke": args.smoke},
          [f"# device check: {dev.platform} {dev.device_kind}, jax {jax.__version__}, budget {args.budget_s:.0f} s"])
    latency(s, plan)
    iteration = iteration_cost(s, plan)
    gpu_loops(s, plan, iteration, args)
    learning(s, plan, iteration)
    print(f"done in {time.time() - s.t0:.0f} s; results in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
