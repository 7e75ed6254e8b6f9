"""Test-suite setup: persistent compilation cache, quiet deprecation noise."""
import os
import warnings

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from fpmd_mjx.jax_setup import enable_compilation_cache  # noqa: E402

enable_compilation_cache()
import jax  # noqa: E402
warnings.filterwarnings("ignore", category=DeprecationWarning)


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs():
    """Drop every compiled program after each test module: one process that keeps all of
    the suite's XLA executables loaded can exhaust the JIT's code mappings and crash;
    programs shared between modules are read back from the persistent cache instead."""
    yield
    from fpmd_mjx import programs

    programs.release()
    jax.clear_caches()
