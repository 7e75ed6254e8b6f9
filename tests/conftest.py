"""Test-suite setup: persistent compilation cache, quiet deprecation noise."""
import warnings

from fpmd_mjx.jax_setup import enable_compilation_cache

enable_compilation_cache()
warnings.filterwarnings("ignore", category=DeprecationWarning)
