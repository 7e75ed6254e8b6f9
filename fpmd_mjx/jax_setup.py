"""Process-level JAX settings shared by scripts and tests.

``enable_compilation_cache()`` turns on JAX's persistent compilation cache so a
second run of a script (or of the test suite) skips the 6-20 s MJX compiles;
``FPMD_MJX_GPU_LOOPS=1`` adds XLA's GPU command-buffer flags (:func:`gpu_loop_flags`).
"""
from __future__ import annotations

import os

# XLA's CPU cache loader logs a harmless "machine feature" line for every cached
# program; keep stderr readable (set before jax is first imported).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# Opt-in (FPMD_MJX_GPU_LOOPS=1): keep loops and branches on a GPU inside XLA command
# buffers (CUDA >= 12.3), so MJX's solver ``while_loop`` does not return to the host once
# per iteration. Read by XLA when JAX first starts its backends; ignored on a CPU.
GPU_LOOP_FLAGS = ("--xla_gpu_enable_command_buffer=+WHILE,+CONDITIONAL",)


def gpu_loop_flags(enable: bool | None = None) -> bool:
    """Add :data:`GPU_LOOP_FLAGS` to ``XLA_FLAGS`` when ``enable`` (default: the
    ``FPMD_MJX_GPU_LOOPS`` environment variable is 1). Call before JAX starts its
    backends (this module does at import). Returns whether the flags are set."""
    if enable is None:
        enable = os.environ.get("FPMD_MJX_GPU_LOOPS", "") == "1"
    flags = os.environ.get("XLA_FLAGS", "")
    if enable:
        missing = [f for f in GPU_LOOP_FLAGS if f.split("=")[0] not in flags]
        os.environ["XLA_FLAGS"] = " ".join([flags, *missing]).strip()
    return all(f.split("=")[0] in os.environ.get("XLA_FLAGS", "") for f in GPU_LOOP_FLAGS)


gpu_loop_flags()


def enable_compilation_cache(path: str | None = None) -> str:
    """Point JAX's persistent compilation cache at ``path`` (default
    ``$FPMD_MJX_CACHE`` or ``~/.cache/fpmd_mjx/jax``) and cache every compile.

    Returns the directory used.
    """
    import jax

    path = path or os.environ.get(
        "FPMD_MJX_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "fpmd_mjx", "jax")
    )
    os.makedirs(path, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    return path


def brax_agents_unavailable() -> str | None:
    """Why brax's own training agents (``brax.training``: its PPO and SAC loops, used only by
    the comparison scripts) cannot run with this jax, or None when they can: they call
    ``jax.device_put_replicated``, which jax 0.10 removed."""
    import jax

    if hasattr(jax, "device_put_replicated"):
        return None
    return (f"jax {jax.__version__}: brax's training agents need jax < 0.9 (jax.device_put_replicated); install "
            f"them in a separate venv: pip install -e \".[brax-agents]\"")


def start_brax_comparison() -> str | None:
    """The set-up of the scripts that train brax's own agents beside ours: warnings silenced
    (brax's deprecation notices), then the compilation cache on and None, or why brax's
    training agents cannot run with this jax (the scripts print it as one ``error:`` line
    and exit 2)."""
    import warnings

    warnings.filterwarnings("ignore")
    why = brax_agents_unavailable()
    if why is None:
        enable_compilation_cache()
    return why
