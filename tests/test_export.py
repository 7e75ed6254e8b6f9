"""Specifications of policy export (scripts/export_policy.py, fpmd_mjx.export) and of
loading it without the training stack (fpmd_mjx.deploy)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from fpmd_mjx import deploy, gym_eval
from fpmd_mjx.checkpoint import find_checkpoints
from fpmd_mjx.rebuild import load_policy
from fpmd_mjx.runner import run
from scripts import export_policy
from tests.tiny import tiny_config

ROOT = Path(__file__).resolve().parents[1]

OBS = np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32)  # InvertedPendulum observations


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny trained InvertedPendulum FPMD-R run and the artifact of its best checkpoint."""
    out = tmp_path_factory.mktemp("run")
    run(tiny_config(), str(out), progress=False)
    art = out / "policy"
    assert export_policy.main([str(out), "--out", str(art)]) == 0
    return out, art


def _checkpoint_actions(step_dir, keys):
    cfg, trainer, params, _ = load_policy(step_dir)
    prepare, act = gym_eval.make_act(trainer, 1)
    dparams = prepare(params)
    return np.stack([np.asarray(act(dparams, OBS[i:i + 1], k, i))[0] for i, k in enumerate(keys)])


def test_the_artifact_describes_its_policy(trained):
    out, art = trained
    meta = json.loads((art / "policy.json").read_text())
    assert meta["format"] == deploy.FORMAT and meta["version"] == deploy.VERSION
    assert (meta["task"], meta["gym_id"], meta["algo"], meta["nfe"]) == ("inverted_pendulum", "InvertedPendulum-v4",
                                                                         "fpmd_r", 1)
    assert (meta["obs_dim"], meta["act_dim"]) == (4, 1) and meta["action_low"] == [-3.0]
    assert "cpu" in meta["platforms"]
    assert os.path.dirname(meta["source_checkpoint"]).endswith("best")  # a run directory exports its best


def test_a_fresh_process_without_the_training_stack_acts_bit_for_bit_like_the_checkpoint(trained):
    out, art = trained
    keys = [jax.random.fold_in(jax.random.PRNGKey(3), i) for i in range(len(OBS))]
    expected = _checkpoint_actions(json.loads((art / "policy.json").read_text())["source_checkpoint"], keys)
    probe = f"""
import json, sys
import jax, numpy as np
from fpmd_mjx import deploy
p = deploy.load({str(art)!r})
obs = np.asarray({OBS.tolist()!r}, np.float32)
acts = [np.asarray(p(obs[i:i + 1], jax.random.fold_in(jax.random.fold_in(jax.random.PRNGKey(3), i), i)))[0].tolist()
        for i in range(len(obs))]
batch = np.asarray(p(obs, jax.random.PRNGKey(0))).shape
single = p.act(obs[0]).shape
heavy = [m for m in ("flax", "brax", "mujoco", "orbax", "optax", "flashbax", "gymnasium") if m in sys.modules]
print(json.dumps({{"acts": acts, "batch": batch, "single": single, "heavy": heavy}}))
"""
    res = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    got = json.loads(res.stdout.strip().splitlines()[-1])
    assert got["heavy"] == []
    assert got["batch"] == [6, 1] and got["single"] == [1]  # symbolic batch; numpy single observations
    # the checkpoint's make_act folds in t = i as well: same keys, same computation
    np.testing.assert_array_equal(np.asarray(got["acts"], np.float32), expected)


def test_gymnasium_returns_equal_the_checkpoint_replay(trained, tmp_path, capsys):
    out, art = trained
    src = json.loads((art / "policy.json").read_text())["source_checkpoint"]
    assert gym_eval.main(["--exported", str(art), "--episodes", "4", "--json", str(tmp_path / "e.json")]) == 0
    assert gym_eval.main([src, "--episodes", "4", "--json", str(tmp_path / "c.json")]) == 0
    (e,) = json.load(open(tmp_path / "e.json"))["rows"]
    (c,) = json.load(open(tmp_path / "c.json"))["rows"]
    assert e["policy"] == "exported" and e["gym_returns"] == c["gym_returns"]
    assert e["mjx_return"] == c["mjx_return"]  # the source checkpoint's recorded MJX return
    assert "exported" in capsys.readouterr().out


def _one_line(err: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize("case", ["missing", "foreign", "version"])
def test_bad_artifacts_are_one_error_line_and_exit_2(case, trained, tmp_path, capsys):
    out, art = trained
    path = tmp_path / "art"
    if case == "foreign":
        path.mkdir()
        (path / "policy.json").write_text(json.dumps({"format": "something.else"}))
    elif case == "version":
        path.mkdir()
        for f in art.iterdir():
            (path / f.name).write_bytes(f.read_bytes())
        meta = json.loads((path / "policy.json").read_text())
        (path / "policy.json").write_text(json.dumps({**meta, "version": 99}))
    with pytest.raises(deploy.DeployError):
        deploy.load(str(path))
    assert gym_eval.main(["--exported", str(path)]) == 2
    line = _one_line(capsys.readouterr().err)
    assert {"missing": "does not exist", "foreign": "not an exported", "version": "version 99"}[case] in line


def test_a_wrong_observation_shape_is_one_clear_error(trained):
    policy = deploy.load(str(trained[1]))
    for bad in (np.zeros(5), np.zeros((2, 3)), np.zeros((1, 2, 4))):
        with pytest.raises(deploy.DeployError, match=r"expected \(4,\)"):
            policy(bad, jax.random.PRNGKey(0))
    with pytest.raises(deploy.DeployError, match="expected"):
        policy.act(np.zeros((1, 4)))


def test_export_cli_bad_input_exits_2_with_one_line(trained, tmp_path, capsys):
    """The first in the CLI's own process, the others through its ``main`` in this one."""
    out, _ = trained
    res = subprocess.run([sys.executable, str(ROOT / "scripts" / "export_policy.py"), str(tmp_path / "nope"),
                          "--out", str(tmp_path / "a")], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert res.returncode == 2, res.stderr[-1000:]
    _one_line("\n".join(ln for ln in res.stderr.splitlines() if "warp" not in ln.lower()))
    for argv in ([str(out), "--out", str(tmp_path / "a"), "--platforms", "cpu,fpga"],
                 [str(out), "--out", str(tmp_path / "a"), "--nfe", "0"]):
        assert export_policy.main(argv) == 2
        _one_line(capsys.readouterr().err)


def test_a_run_directory_of_several_seeds_must_name_one(trained, tmp_path):
    out, _ = trained
    with pytest.raises(deploy.DeployError, match="several runs"):
        from fpmd_mjx.export import export_checkpoint

        (tmp_path / "seeds").mkdir()
        for k in range(2):
            os.symlink(out, tmp_path / "seeds" / f"seed_{k}")
        export_checkpoint(str(tmp_path / "seeds"), str(tmp_path / "a"))
    assert find_checkpoints(str(out))  # unchanged
