"""Pytree helpers shared by layers that do not import each other."""
import jax


def strong(tree):
    """``tree`` with every leaf without JAX's weak type (same values and dtypes).

    A ``lax.scan`` carry and a compiled program's signature need one type per leaf: an env's
    reset may return weakly typed Python scalars where its step returns typed arrays, and
    flashbax's buffer index is weakly typed, so a state restored from a checkpoint would
    otherwise trace the compiled chunk again."""
    return jax.tree.map(lambda x: jax.lax.convert_element_type(x, jax.numpy.asarray(x).dtype), tree)
