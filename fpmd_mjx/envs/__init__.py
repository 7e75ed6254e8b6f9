"""MJX ports of the ten Gymnasium MuJoCo v4 tasks.

    from fpmd_mjx import envs
    env = envs.make("Ant-v4")            # brax PipelineEnv, single env
    vec = envs.make_vec("ant", 128)      # VecEnv: batched, time limit, autoreset

See docs/tasks.md for the parity measurements against Gymnasium. Building a task
installs the project's corrections to MJX for the whole process
(:mod:`fpmd_mjx.envs.mjx_corrections`: ``installed()``, ``uninstall()``).
"""
import contextlib as _contextlib
import io as _io

# mujoco.mjx prints "Failed to import warp..." on import when its optional Warp
# backend is not installed (not needed: the tasks run MJX's JAX backend).
with _contextlib.redirect_stdout(_io.StringIO()):
    import mujoco.mjx  # noqa: F401

from fpmd_mjx.envs.base import PROFILES, MjxTask, TaskSpec  # noqa: E402
from fpmd_mjx.envs.registry import canonical_name, make, names, spec  # noqa: E402
from fpmd_mjx.envs.wrappers import VecEnv  # noqa: E402


def make_vec(name: str, num_envs: int, episode_length: int | None = None,
             solver_caps: bool = True, profile: str = "faithful") -> VecEnv:
    """``VecEnv(make(name, solver_caps, profile), num_envs, episode_length)``."""
    return VecEnv(make(name, solver_caps, profile), num_envs, episode_length)


__all__ = ["PROFILES", "MjxTask", "TaskSpec", "VecEnv", "canonical_name", "make", "make_vec", "names", "spec"]
