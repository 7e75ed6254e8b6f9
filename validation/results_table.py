"""A Table-1-style results table of a sweep, replayed in Gymnasium v4: the command line of
``fpmd_mjx.results_table`` (``--help`` lists the options; docs/scaling.md)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from fpmd_mjx import jax_setup  # noqa: E402,F401  (quiets XLA's logs: imported before jax)
from fpmd_mjx.results_table import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
