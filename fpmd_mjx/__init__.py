"""fpmd_mjx: Flow Policy Mirror Descent on MJX ports of the Gymnasium MuJoCo v4 tasks."""

__version__ = "0.1.0"
