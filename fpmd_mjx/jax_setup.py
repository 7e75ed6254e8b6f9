"""Process-level JAX settings shared by scripts and tests.

``enable_compilation_cache()`` turns on JAX's persistent compilation cache so a
second run of a script (or of the test suite) skips the 6-20 s MJX compiles.
"""
from __future__ import annotations

import os

# XLA's CPU cache loader logs a harmless "machine feature" line for every cached
# program; keep stderr readable (set before jax is first imported).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


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
