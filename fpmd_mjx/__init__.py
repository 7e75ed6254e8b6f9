"""fpmd_mjx: Flow Policy Mirror Descent on MJX ports of the Gymnasium MuJoCo v4 tasks."""
import contextlib as _contextlib
import io as _io

__version__ = "0.1.0"

# mujoco.mjx prints "Failed to import warp..." on import when the optional Warp
# backend is not installed (it is not needed: the project runs MJX's JAX backend).
with _contextlib.redirect_stdout(_io.StringIO()):
    import mujoco.mjx  # noqa: F401,E402
