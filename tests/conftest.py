"""Test-suite setup: persistent compilation cache, quiet deprecation noise."""
import os
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from fpmd_mjx.jax_setup import enable_compilation_cache

enable_compilation_cache()
warnings.filterwarnings("ignore", category=DeprecationWarning)
