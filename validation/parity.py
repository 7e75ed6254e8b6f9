"""Parity of the MJX task ports against Gymnasium v4 (C MuJoCo): the command line of
``fpmd_mjx.parity`` (``--help`` lists the options; docs/tasks.md)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from fpmd_mjx import jax_setup  # noqa: E402,F401  (quiets XLA's logs: imported before jax)
from fpmd_mjx.parity import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
