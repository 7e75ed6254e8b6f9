"""The wheel: ``pip wheel`` of the checkout holds every module of the package and every
config (``configs/*.yaml`` as the package data ``fpmd_mjx/configs``), and a non-editable
install of it, in a fresh venv that cannot see the checkout, loads every config and runs
the README's library example at a tiny budget. Offline: no build isolation, no index.

The build reads copies of what the wheel is made of (pyproject.toml, README.md, fpmd_mjx/,
configs/), so setuptools' ``build/`` never lands in the checkout and a stale one cannot
leak into the wheel. The venv gets its dependencies (jax, mujoco, brax, ...) from this
environment's site-packages through a ``.pth`` file: directories only, none of their own
``.pth`` files (an editable install of the checkout among them) take effect there."""
import glob
import json
import os
import shutil
import subprocess
import sys
import zipfile

import pytest

from fpmd_mjx import envs
from fpmd_mjx.config import ALGOS, CONFIG_DIR
from tests.tiny import TINY

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD_INPUTS = ("pyproject.toml", "README.md", "fpmd_mjx", "configs")
CONFIGS = sorted(os.path.basename(p) for p in glob.glob(os.path.join(ROOT, "configs", "*.yaml")))
# Each overlay (flat keys over an algorithm's YAML) with the (algorithm, task) cells it is written for
OVERLAYS = {
    "authors.yaml": [(a, "hopper") for a in ("fpmd_r", "fpmd_m", "dpmd")],
    "authors_sac.yaml": [("sac", "hopper")],
    "quick_ant.yaml": [("fpmd_m", "ant")],
    "quick_ip.yaml": [(a, "inverted_pendulum") for a in ("fpmd_r", "fpmd_m", "sac", "dpmd", "td3")],
    "quick_ip_ppo.yaml": [("ppo", "inverted_pendulum")],
    "quick_locomotion.yaml": [(a, t) for a in ("fpmd_r", "fpmd_m", "sac", "td3") for t in ("half_cheetah", "hopper")],
    "quick_playground.yaml": [],  # its cells need the playground extra: tests/test_playground.py loads them
}
# Run in the installed copy, from a directory outside the checkout: where the package and its
# configs come from, every algorithm config on every task, every overlay on its cells, then the
# README's "As a library" example: three seeds vmapped and an evaluation, at tests/tiny.py's
# budget, on InvertedPendulum. (The same FPMD-M programs as tests/test_train.py's, which runs
# first in this worker: the installed copy reads them from the persistent compilation cache.)
PROBE = """
import json, os, sys
from fpmd_mjx.jax_setup import enable_compilation_cache
enable_compilation_cache()
import jax
import fpmd_mjx
from fpmd_mjx import envs
from fpmd_mjx.config import ALGOS, CONFIG_DIR, load_config, load_overlay
from fpmd_mjx.train import make_train

overlays, tiny = json.loads(sys.argv[1]), json.loads(sys.argv[2])
loaded = [load_config(a, t).algo for a in ALGOS for t in envs.names()]
for name, cells in overlays.items():
    over = load_overlay(os.path.join(CONFIG_DIR, name))
    loaded += [load_config(a, t, over).algo for a, t in cells]
cfg = load_config("fpmd_m", "inverted_pendulum", tiny)
trainer = make_train(cfg)
states, metrics = jax.jit(jax.vmap(trainer.train))(jax.random.split(jax.random.PRNGKey(0), 3))
state = jax.tree.map(lambda x: x[0], states)
returns, lengths = jax.jit(trainer.evaluate, static_argnums=2)(trainer.eval_params(state.agent), jax.random.PRNGKey(1), 1)
print(json.dumps({"package": fpmd_mjx.__file__, "config_dir": CONFIG_DIR, "configs": sorted(os.listdir(CONFIG_DIR)),
                  "sys_path": [os.path.realpath(p or ".") for p in sys.path], "loaded": len(loaded),
                  "updates": int(cfg.updates), "returns": [float(r) for r in returns]}))
"""


def test_every_config_is_an_algorithm_config_or_an_overlay_with_its_cells():
    assert set(CONFIGS) == {f"{a}.yaml" for a in ALGOS} | set(OVERLAYS)


def test_a_checkout_reads_its_own_configs_directory():
    assert CONFIG_DIR == os.path.join(ROOT, "configs")


def _run(cmd, hint="", **kw):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600, **kw)
    head = " ".join(map(str, cmd[:6]))
    assert p.returncode == 0, f"{head} ...: exit {p.returncode}{hint}\n{p.stdout[-3000:]}{p.stderr[-3000:]}"
    return p.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """The wheel built offline from copies of the checkout's build inputs."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    for name in BUILD_INPUTS:
        path = os.path.join(ROOT, name)
        if os.path.isdir(path):
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(path, src / name)
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
          "-w", str(tmp / "dist"), str(src)], env=env,
         hint=' (the build needs setuptools >= 70.1 here: pip install -e ".[test]")')
    (path,) = glob.glob(str(tmp / "dist" / "fpmd_mjx-*.whl"))
    return path


def test_the_wheel_holds_every_module_and_every_config(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {os.path.relpath(p, ROOT).replace(os.sep, "/")
               for p in glob.glob(os.path.join(ROOT, "fpmd_mjx", "**", "*.py"), recursive=True)}
    assert modules - names == set()
    assert {f"fpmd_mjx/configs/{c}" for c in CONFIGS} <= names


def test_an_installed_wheel_loads_every_config_and_trains_outside_the_checkout(wheel, tmp_path):
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = str(venv / ("Scripts" if os.name == "nt" else "bin") / "python")
    site = _run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).strip()
    deps = [p for p in sys.path if os.path.basename(p) in ("site-packages", "dist-packages") and os.path.isdir(p)]
    with open(os.path.join(site, "_fpmd_mjx_test_dependencies.pth"), "w") as f:
        f.write("\n".join(deps) + "\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    # --ignore-installed: this environment's own fpmd_mjx (an editable install, seen through the
    # .pth) is neither uninstalled nor taken for the wheel
    _run([python, "-m", "pip", "install", "--no-deps", "--no-index", "--ignore-installed", wheel], cwd=elsewhere,
         env=env)
    out = json.loads(_run([python, "-c", PROBE, json.dumps(OVERLAYS), json.dumps(TINY)], cwd=elsewhere,
                          env=env).splitlines()[-1])
    package = os.path.dirname(os.path.realpath(out["package"]))
    assert package == os.path.realpath(os.path.join(site, "fpmd_mjx"))
    assert os.path.realpath(out["config_dir"]) == os.path.join(package, "configs")
    assert os.path.realpath(ROOT) not in out["sys_path"], out["sys_path"]
    assert out["configs"] == CONFIGS
    assert out["loaded"] == len(ALGOS) * len(envs.names()) + sum(len(c) for c in OVERLAYS.values())
    assert out["updates"] > 0 and len(out["returns"]) == TINY["eval_episodes"] and all(r >= 1 for r in out["returns"])
