"""Sampling trajectories of flow and diffusion policies, as the paper's Figure 1.

    python scripts/plot_trajectories.py runs/ant-fpmd_r/checkpoints/5000 runs/ant-fpmd_r/checkpoints/1000000 \\
        runs/ant-dpmd/checkpoints/5000 runs/ant-dpmd/checkpoints/1000000 --out fig1.png
    python scripts/plot_trajectories.py runs/ant-fpmd_r --all-steps --out fpmd_r_stages.png

One column per checkpoint (titled task / algo / env steps), one row per state
(``--num-states`` states from MJX resets of the checkpoint's task). Each panel
draws ``--num-samples`` prior draws pushed through the policy's sampler, in the
plane of the first two action dimensions (against sampling time for 1-D actions):

* FPMD-R: the Euler path with K = ``flow_steps`` steps (thin lines) and, from the
  same prior draws, the one-step jump a0 + v(a0, 0 | s) (dashed straight lines) --
  close end points mean a small one-step discretisation error;
* FPMD-M: the K-step MeanFlow path (``--steps K``; its policy acts with K = 1) and
  the one-step jump z - u(z, 0, 1) from the same draws;
* DPMD: the ancestral DDPM chain of K steps from N(0, I).

A CKPT is a checkpoint step directory, or a run directory (its newest periodic
checkpoint, or with ``--all-steps`` every kept one).
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("ckpts", nargs="+", metavar="CKPT", help="checkpoint step dirs or run dirs")
    p.add_argument("--out", required=True, help="output image (.png, .pdf, ...)")
    p.add_argument("--num-samples", type=int, default=64, help="prior draws per state")
    p.add_argument("--num-states", type=int, default=1, help="reset states per checkpoint (rows)")
    p.add_argument("--steps", type=int, default=None, help="sampling steps K (default: the config's flow_steps)")
    p.add_argument("--all-steps", action="store_true", help="a run dir gives every kept periodic checkpoint")
    p.add_argument("--seed", type=int, default=0, help="key of the resets and prior draws")
    return p.parse_args(argv)


def expand(paths, all_steps: bool) -> list[str]:
    """Checkpoint step directories for the CLI's CKPT arguments, in order."""
    from fpmd_mjx.checkpoint import find_checkpoints

    out = []
    for path in paths:
        root = os.path.join(path, "checkpoints")
        if all_steps and os.path.isdir(root):
            steps = sorted((d for d in os.listdir(root) if d.isdigit()), key=int)
            out += [find_checkpoints(os.path.join(root, d))[0] for d in steps]
        else:
            out.append(find_checkpoints(path)[0])
    return out


def path_fn(cfg, agent):
    """``sample_path(params, obs, key, nfe)`` of the checkpoint's policy (FPMD-R/M, DPMD)."""
    if agent.sample_path is None:
        raise SystemExit(f"error: algo {cfg.algo!r} has no sampling path to draw (fpmd_r, fpmd_m and dpmd do)")
    return agent.sample_path


def trajectories(step_dir: str, num_states: int, num_samples: int, steps, seed: int) -> dict:
    """Paths of one checkpoint: ``paths`` (S, K + 1, N, A), ``jumps`` (S, 2, N, A) or None, and labels."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from fpmd_mjx.rebuild import load_policy

    cfg, trainer, params, meta = load_policy(step_dir)
    env = trainer.env
    fn = path_fn(cfg, trainer.agent)
    k = steps or cfg.flow_steps
    k_reset, k_prior = jax.random.split(jax.random.PRNGKey(seed))
    obs = jax.vmap(env.reset)(jax.random.split(k_reset, num_states)).obs  # (S, obs_dim)
    obs_n = jnp.repeat(obs[:, None], num_samples, axis=1)  # (S, N, obs_dim)
    paths = np.asarray(jax.jit(lambda p, o, key: fn(p, o, key, k))(params, obs_n, k_prior))
    jumps = None
    if cfg.algo in ("fpmd_r", "fpmd_m"):  # the one-step sample from the same prior draws
        jumps = np.asarray(jax.jit(lambda p, o, key: fn(p, o, key, 1))(params, obs_n, k_prior))
    return {"paths": np.moveaxis(paths, 0, 1), "jumps": None if jumps is None else np.moveaxis(jumps, 0, 1),
            "task": cfg.env, "algo": cfg.algo, "env_steps": meta.get("env_steps"), "nfe": k}


def draw_panel(ax, paths, jumps, nfe: int):
    """paths (K + 1, N, A), jumps (2, N, A) or None, for one state."""
    import numpy as np

    k1, n, a = paths.shape
    if a >= 2:
        xy = lambda p: (p[..., 0], p[..., 1])  # noqa: E731
        ax.set_xlabel("action dim 0")
        ax.set_ylabel("action dim 1")
        ax.plot([-1, 1, 1, -1, -1], [-1, -1, 1, 1, -1], ":", color="0.6", lw=0.8)
    else:  # 1-D actions: action against sampling time
        xy = lambda p: (np.broadcast_to(np.linspace(0, 1, p.shape[0])[:, None], p.shape[:2]), p[..., 0])  # noqa: E731
        ax.set_xlabel("sampling time")
        ax.set_ylabel("action")
        ax.axhline(1, ls=":", color="0.6", lw=0.8)
        ax.axhline(-1, ls=":", color="0.6", lw=0.8)
    x, y = xy(paths)
    ax.plot(x, y, color="tab:blue", lw=0.6, alpha=0.5)
    ax.scatter(x[0], y[0], s=6, color="0.4", label="prior draw", zorder=3)
    ax.scatter(x[-1], y[-1], s=8, color="tab:blue", label=f"{nfe}-step sample", zorder=3)
    if jumps is not None:
        jx, jy = xy(jumps)
        if a < 2:
            jx = np.broadcast_to(np.array([[0.0], [1.0]]), jy.shape)
        ax.plot(jx, jy, "--", color="tab:red", lw=0.6, alpha=0.5)
        ax.scatter(jx[-1], jy[-1], s=8, marker="x", color="tab:red", label="1-step sample", zorder=4)


def figure(items: list[dict]):
    """One column per checkpoint (:func:`trajectories`), one row per state, as a matplotlib figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = items[0]["paths"].shape[0]
    fig, axes = plt.subplots(rows, len(items), figsize=(4 * len(items), 3.8 * rows), squeeze=False)
    for c, it in enumerate(items):
        for r in range(rows):
            ax = axes[r][c]
            draw_panel(ax, it["paths"][r], None if it["jumps"] is None else it["jumps"][r], it["nfe"])
            if r == 0:
                ax.set_title(f"{it['task']} / {it['algo']} / {it['env_steps']} env steps", fontsize=9)
    axes[0][0].legend(fontsize=7, loc="best")
    return fig


def plot(items: list[dict], out: str) -> None:
    """Save :func:`figure` to ``out`` (120 dpi)."""
    from fpmd_mjx.reporting import save_figure

    save_figure(figure(items), out)


def main(argv=None) -> int:
    args = parse_args(argv)
    from fpmd_mjx.jax_setup import enable_compilation_cache

    enable_compilation_cache()
    from fpmd_mjx.checkpoint import CheckpointError

    try:
        dirs = expand(args.ckpts, args.all_steps)
        items = [trajectories(d, args.num_states, args.num_samples, args.steps, args.seed) for d in dirs]
    except (CheckpointError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    plot(items, args.out)
    print(f"wrote {args.out} ({len(items)} checkpoints: {', '.join(dirs)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
