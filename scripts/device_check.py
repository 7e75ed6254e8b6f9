"""The accelerator session script lives in ``benchmarks/device_check.py``; this path, the one
the runbook names, runs it unchanged (``python scripts/device_check.py --help``)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks.device_check import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
