"""One unattended measurement session on an accelerator, in a fixed time budget.

    python scripts/device_check.py --download-wheels wheels/          # once, with a network: cp312 wheels
    python scripts/device_check.py --wheels wheels/ --out results/     # on the GPU machine (<= 9 min)
    python scripts/device_check.py --smoke --out /tmp/device_check     # the same steps, tiny, on CPU

For a machine that has Python, CUDA jax, flax, optax, chex and orbax but neither a
package index nor mujoco, mjx, brax, gymnasium or flashbax: ``--wheels DIR`` installs
the wheels carried in DIR (``--download-wheels`` fetches them for CPython 3.12,
manylinux x86_64) before anything else is imported, without dependencies and without
an index. Then, each step only if the budget (``--budget-s``, default 540 s) allows,
everything printed and written under ``--out`` as it completes (``results.json``,
``report.md``):

1. **latency**: MJX env steps (random actions, one compiled scan) for Hopper and Ant at
   batch 1, 5, 25, 64 and 512, physics profiles ``faithful`` and ``newton1``
   (``fpmd_mjx.envs.PROFILES``): ms per vector step and env steps/s;
2. **training iteration** at the paper's shape (FPMD-M on Hopper: 5 envs, 1 update per
   step, the paper's networks) for 1 and 5 seeds in one program: ms per iteration, the
   cost of 5 seeds relative to 1, and the projected wall-clock of 1M env steps x 5 seeds;
3. **learning**: FPMD-M on Hopper, 5 seeds, paper settings, for the remaining minutes
   (the budget in env steps is sized from step 2's rate), through the runner: run
   directory with metrics, checkpoints and ``curve.png``.

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
            train_env="hopper", seeds=(1, 5), iters=100, learn_seeds=5, max_learn_steps=None, overrides={})
SMOKE = dict(tasks=("inverted_pendulum",), batches=(5,), profiles=("faithful", "newton1"), steps=5,
             train_env="inverted_pendulum", seeds=(1, 2), iters=4, learn_seeds=2, max_learn_steps=256,
             overrides=dict(num_envs=4, hidden_sizes=[16, 16], num_particles=4, batch_size=16, buffer_size=512,
                            eval_episodes=2, time_embed_dim=8))


def download_wheels(dest: str) -> int:
    """``pip download`` the carried wheels for CPython 3.12 on manylinux x86_64 into ``dest``."""
    cmd = [sys.executable, "-m", "pip", "download", "--only-binary=:all:", "--python-version", "3.12",
           "--implementation", "cp", "--no-deps", "-d", dest]
    for plat in ("manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux_2_28_x86_64"):
        cmd += ["--platform", plat]
    return subprocess.call(cmd + list(WHEELS))


def install_missing(wheels: str) -> list[str]:
    """Install every wheel in ``wheels`` (no index, no dependencies) when a carried package
    is missing; returns the import names still missing afterwards."""
    missing = [m for m in CARRIED if importlib.util.find_spec(m.split(".")[0]) is None]
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
    from scripts.bench_envs import bench_mjx

    rows = ["| task | profile | batch | ms / vector step | env steps/s |", "|---|---|---|---|---|"]
    found = []
    order = [(t, p, b) for p in plan["profiles"] for t in plan["tasks"] for b in plan["batches"]]
    for task, prof, batch in order:
        if s.budget - s.left() > share * s.budget:
            rows.append(f"| {task} | {prof} | {batch} | not measured (budget) | |")
            continue
        r = bench_mjx(task, batch, plan["steps"], profile=prof)
        found.append({"task": task, "profile": prof, "batch": batch, "steps_per_s": r["steps_per_s"],
                      "ms_per_vector_step": 1e3 * batch / r["steps_per_s"], "compile_s": r["compile_s"]})
        rows.append(f"| {task} | {prof} | {batch} | {found[-1]['ms_per_vector_step']:.3f} | {r['steps_per_s']:,.0f} |")
        print(rows[-1], flush=True)
    s.add("latency", found, ["## MJX env-step latency", *rows])


def train_config(plan: dict, **kw):
    from fpmd_mjx.config import load_config

    over = {"warmup_steps": 64, "buffer_size": 100_000, **plan["overrides"], **kw}
    return load_config("fpmd_m", plan["train_env"], over)


def iteration_cost(s: Session, plan: dict) -> dict:
    """ms per training iteration of FPMD-M at the paper's shape for each seed count."""
    import jax

    from fpmd_mjx.runner import programs

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


def learning(s: Session, plan: dict, iteration: dict) -> None:
    """FPMD-M, ``learn_seeds`` seeds, for the time left (sized from the measured rate)."""
    from fpmd_mjx.config import load_config
    from fpmd_mjx.runner import run, save_run_info

    k = plan["learn_seeds"]
    rate = iteration.get(k) or next(iter(iteration.values()), None)
    if rate is None or s.left() < 30:
        s.add("learning", None, ["## Learning run", "not run (budget)"])
        return
    paper_warmup = load_config("fpmd_m", plan["train_env"]).warmup_steps
    base = train_config(plan, chunk_iterations=plan["iters"],
                        **({} if plan is SMOKE else {"warmup_steps": paper_warmup}))
    iters = int(0.6 * s.left() * 1e3 / rate["ms_per_iteration"])
    steps = max(iters * base.num_envs, 2 * base.num_envs)
    steps = min(steps, plan["max_learn_steps"] or steps)
    cfg = base.replace(total_steps=steps, warmup_steps=min(base.warmup_steps, steps // 2),
                       eval_every=max(steps // 5, base.num_envs), checkpoint_every=steps)
    out = os.path.join(s.out, "learning")
    save_run_info(out, cfg, k)
    t = time.time()
    res = run(cfg, out, num_seeds=k, progress=False)
    lines = ["## Learning run (FPMD-M, Hopper, paper settings)" if plan is FULL else "## Learning run (smoke)",
             f"{res.env_steps} env steps x {k} seeds in {time.time() - t:.0f} s (warm-up {cfg.warmup_steps}); "
             f"MJX eval return per seed: {[round(x, 1) for x in res.eval_returns]}"]
    try:
        from scripts.plot_curves import load_run, plot

        plot([load_run(out)], os.path.join(s.out, "curve.png"))
        lines.append("curve: curve.png")
    except ImportError as e:  # matplotlib is optional on the device
        lines.append(f"no curve ({e})")
    s.add("learning", {"env_steps": res.env_steps, "seeds": k, "eval_returns": res.eval_returns,
                       "best_returns": res.best_returns, "config": cfg.to_dict()}, lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=None, help="results folder (required unless --download-wheels)")
    p.add_argument("--wheels", default=None, help="folder of carried wheels to install when packages are missing")
    p.add_argument("--download-wheels", default=None, metavar="DIR", help="fetch the cp312 wheels into DIR and exit")
    p.add_argument("--budget-s", type=float, default=540.0, help="wall-clock budget of the session")
    p.add_argument("--smoke", action="store_true", help="tiny sizes on InvertedPendulum (tests, CPU)")
    args = p.parse_args(argv)
    if args.download_wheels:
        return download_wheels(args.download_wheels)
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
    dev = jax.devices()[0]
    s.add("device", {"platform": dev.platform, "kind": dev.device_kind, "jax": jax.__version__,
                     "budget_s": args.budget_s, "smoke": args.smoke},
          [f"# device check: {dev.platform} {dev.device_kind}, jax {jax.__version__}, budget {args.budget_s:.0f} s"])
    latency(s, plan)
    iteration = iteration_cost(s, plan)
    learning(s, plan, iteration)
    print(f"done in {time.time() - s.t0:.0f} s; results in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
