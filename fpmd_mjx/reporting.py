"""Small output helpers shared by the scripts (JSON results, PNG figures)."""
from __future__ import annotations

import json
import os
import sys


def _ensure_parent(path: str) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)


def write_json(path: str, obj) -> None:
    """Write ``obj`` as indented JSON to ``path`` (parent folders created) and say so."""
    _ensure_parent(path)
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)
    print(f"wrote {path}")


def error(message: str) -> int:
    """Print the command line's one ``error:`` line to stderr; returns its exit status, 2."""
    print(f"error: {message}", file=sys.stderr)
    return 2


def report(text: str, path: str | None, obj) -> int:
    """Print a benchmark's ``text`` table and, with a ``path``, write ``obj`` there as JSON;
    returns the exit status, 0."""
    print(text)
    if path:
        write_json(path, obj)
    return 0


def save_figure(fig, path: str, dpi: int = 120, axes=()) -> None:
    """Save a matplotlib figure to ``path`` (parent folders created) and close it;
    ``axes`` get a light grid and a legend first."""
    import matplotlib.pyplot as plt

    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    _ensure_parent(path)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
