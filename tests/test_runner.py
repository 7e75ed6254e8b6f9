"""Specifications of the CLI loop: logs, checkpoints, resume, NaN stop, bad input."""
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fpmd_mjx.checkpoint import CheckpointError, RunCheckpointer, find_checkpoints, read_meta
from fpmd_mjx.rebuild import load_policy
from fpmd_mjx import gym_eval, runner
from fpmd_mjx.programs import programs
from fpmd_mjx.rundir import RunDirRecorder
from fpmd_mjx.runner import NonFiniteLoss, run
from scripts import train as train_cli
from tests.tiny import TINY, tiny_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN = os.path.join(ROOT, "scripts", "train.py")


def _params_equal(a, b):
    return all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("full"))
    res = run(tiny_config(total_steps=180), out, progress=False)
    return out, res


def test_run_writes_metrics_checkpoints_and_best(full_run):
    """180 env steps = a 64-step warm-up, three 32-step chunks and a shortened last
    chunk: the budget is exact."""
    out, res = full_run
    assert res.env_steps == 180
    with open(os.path.join(out, "metrics.csv")) as f:
        rows = list(csv.DictReader(f))
    evals = [r for r in rows if r["eval_return"]]
    assert [int(r["env_steps"]) for r in evals] == [64, 96, 128, 160, 180]
    assert os.path.isdir(os.path.join(out, "tb"))
    steps = sorted(int(d) for d in os.listdir(os.path.join(out, "checkpoints")))
    assert steps[-1] == 180 and len(steps) <= 3  # keep_checkpoints
    last, best = find_checkpoints(out)
    meta = read_meta(last)
    assert meta["env"] == "inverted_pendulum" and meta["algo"] == "fpmd_r" and meta["env_steps"] == 180
    assert meta["config"]["total_steps"] == 180 and "fpmd_mjx_version" in meta
    assert read_meta(best)["eval_return"] == max(float(r["eval_return"]) for r in evals)


def test_metrics_csv_holds_fpmd_diagnostics_per_chunk(full_run):
    """Each training chunk's row carries what a diagnosis of FPMD needs: the TD targets, the
    noise, the mirror-descent weights' effective sample size (between 1 and the batch size)
    and the candidates' spread and best-of-N gain."""
    out, _ = full_run
    with open(os.path.join(out, "metrics.csv")) as f:
        chunks = [r for r in csv.DictReader(f) if r["steps_per_s"]]
    assert len(chunks) == 4
    cfg = tiny_config(total_steps=180)
    for r in chunks:
        v = {k: float(r[k]) for k in ("td_target_mean", "noise_std", "weight_ess", "policy_spread", "best_of_n_gain")}
        assert all(np.isfinite(x) for x in v.values()), r
        assert 1.0 <= v["weight_ess"] <= cfg.batch_size
        assert v["policy_spread"] > 0.0 and v["best_of_n_gain"] >= 0.0


def test_checkpoint_rebuilds_the_policy_from_the_directory_alone(full_run):
    out, res = full_run
    cfg, trainer, params, meta = load_policy(find_checkpoints(out)[0])
    ret, _ = jax.jit(trainer.evaluate, static_argnums=2)(params, jax.random.PRNGKey(0), 1)
    assert ret.shape == (cfg.eval_episodes,) and np.isfinite(ret).all()


def test_a_run_stopped_with_until_resumes_to_the_uninterrupted_run(full_run, tmp_path):
    """``until`` stops at the first chunk end at or past it (64 + 32k env steps), with a
    checkpoint there; resuming finishes the budget bit for bit as one run does."""
    out_full, _ = full_run
    out = str(tmp_path)
    res = run(tiny_config(total_steps=180), out, progress=False, until=100)
    assert res.env_steps == 128 and not res.interrupted
    assert max(int(d) for d in os.listdir(os.path.join(out, "checkpoints"))) == 128
    assert run(tiny_config(total_steps=180), out, resume=True, progress=False).env_steps == 180
    _, _, p_resumed, _ = load_policy(find_checkpoints(out)[0])
    _, _, p_full, _ = load_policy(find_checkpoints(out_full)[0])
    assert _params_equal(p_resumed, p_full)


def test_a_run_killed_past_its_last_state_resumes_without_repeating_logs_or_clashing_checkpoints(full_run, tmp_path):
    """Killed after logging (and maybe saving a best policy at) env steps 160 and 180 but
    before its state checkpoint at 180: the resumed run continues from the state at 128,
    logs each step once, replaces what the killed run saved at the steps it trains again,
    and ends as the uninterrupted run."""
    out = str(tmp_path)
    cfg = tiny_config(total_steps=180, checkpoint_every=64)  # states at 64, 128, 180; evaluations every 32
    run(cfg, out, progress=False)
    best_step = int(os.path.basename(find_checkpoints(out)[1]))
    shutil.rmtree(os.path.join(out, "checkpoints", "180"))
    assert run(cfg, out, resume=True, progress=False).env_steps == 180
    with open(os.path.join(out, "metrics.csv")) as f:
        rows = list(csv.DictReader(f))
    evals = [r for r in rows if r["eval_return"]]
    assert [int(r["env_steps"]) for r in evals] == [64, 96, 128, 160, 180]
    assert [int(r["env_steps"]) for r in rows] == sorted(int(r["env_steps"]) for r in rows)
    last, best = find_checkpoints(out)
    assert read_meta(best)["eval_return"] == max(float(r["eval_return"]) for r in evals)
    assert int(os.path.basename(best)) == best_step
    assert _params_equal(load_policy(last)[2], load_policy(find_checkpoints(full_run[0])[0])[2])


def test_a_checkpoint_saved_again_at_its_step_replaces_the_old_one(full_run, tmp_path):
    """What a resumed run saves at a step the stopped run had saved (its best policy, or
    one run's state ahead of the others) replaces it."""
    _, _, policy, meta = load_policy(find_checkpoints(full_run[0])[0])
    ck = RunCheckpointer(str(tmp_path / "again"), keep=3)
    for ret in (1.0, 2.0):
        ck.save(96, None, policy, {**meta, "eval_return": ret})
        ck.save_best(96, policy, {**meta, "eval_return": ret})
    ck.close()
    last, best = find_checkpoints(str(tmp_path / "again"))
    assert read_meta(last)["eval_return"] == read_meta(best)["eval_return"] == 2.0


def test_non_finite_loss_stops_with_its_name_and_step_and_keeps_a_checkpoint(tmp_path):
    """A checkpoint whose critic went NaN (the same compiled programs as every tiny
    run): resuming it stops at the first chunk, names the loss and the step, and
    leaves the last good checkpoint loadable."""
    out = str(tmp_path)
    cfg = tiny_config(total_steps=64)
    run(cfg, out, progress=False)
    trainer = programs(cfg, 1).trainer
    ck = RunCheckpointer(out, cfg.keep_checkpoints)
    state, meta = ck.restore_state(jax.eval_shape(trainer.init, jax.random.PRNGKey(0)))
    critic = jax.tree.map(lambda x: x * jnp.nan if jnp.issubdtype(x.dtype, jnp.floating) else x,
                          state.agent.critic)
    state = state.replace(agent=state.agent.replace(critic=critic))
    ck.save(65, state, trainer.agent.policy_params(state.agent), meta)
    ck.close()
    with pytest.raises(NonFiniteLoss, match=r"non-finite (critic_loss|q_mean|actor_loss) at env step \d+"):
        run(tiny_config(total_steps=192), out, resume=True, progress=False)
    load_policy(find_checkpoints(out)[0])


def test_find_checkpoints_rejects_missing_and_foreign_directories(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        find_checkpoints(str(tmp_path / "nope"))
    (tmp_path / "junk").mkdir()
    with pytest.raises(CheckpointError, match="holds no fpmd_mjx checkpoint"):
        find_checkpoints(str(tmp_path / "junk"))


@pytest.mark.parametrize("args, words", [
    (["--env", "cartpole"], ["unknown task 'cartpole'", "valid tasks:"]),
    (["--algo", "a2c"], ["unknown algo 'a2c'", "valid algos:"]),
    (["--set", "lr=1"], ["unknown config key 'lr'"]),
    (["--set", "num_envs=-3"], ["num_envs must be > 0"]),
    (["--until", "0"], ["--until must be an env step >= 1", "0"]),
])
def test_cli_bad_input_is_a_one_line_error(args, words, capsys):
    """(In this process: the CLI's own process is run by the malformed-overlay test below.)"""
    assert train_cli.main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and all(w in err for w in words), err


def _damage(step_dir):
    """Truncate every data file of a checkpoint, as a bad copy or disk error would."""
    for root, _, files in os.walk(step_dir):
        if os.sep + "d" in root:
            for name in files:
                with open(os.path.join(root, name), "r+b") as f:
                    f.truncate(8)


def test_damaged_newest_checkpoint_falls_back_for_resume_and_gym_eval(tmp_path, capsys):
    out = str(tmp_path)
    run(tiny_config(total_steps=128), out, progress=False)
    _damage(os.path.join(out, "checkpoints", "128"))
    res_json = str(tmp_path / "gym.json")
    assert gym_eval.main([os.path.join(out, "checkpoints"), "--episodes", "2", "--json", res_json]) == 0
    assert "warning: skipping damaged checkpoint" in capsys.readouterr().err
    with open(res_json) as f:
        assert [r["env_steps"] for r in json.load(f)["rows"]] == [96]  # the older intact step
    res = run(tiny_config(total_steps=160), out, resume=True, progress=False)
    err = capsys.readouterr().err
    assert len([ln for ln in err.splitlines() if "skipping damaged checkpoint" in ln]) == 1
    assert res.env_steps == 160 and os.path.isdir(os.path.join(out, "checkpoints", "128.damaged"))
    load_policy(find_checkpoints(out)[0])  # continued from 96: fresh 128 and 160
    for step in os.listdir(os.path.join(out, "checkpoints")):
        _damage(os.path.join(out, "checkpoints", step))
    with pytest.raises(CheckpointError, match="no intact checkpoint to resume"):
        run(tiny_config(total_steps=192), out, resume=True, progress=False)


def test_malformed_config_overlay_is_a_one_line_error(tmp_path):
    """The CLI's own process: exit 2, one line on stderr, no traceback."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("total_steps: [1, 2\nnum_envs: 4\n")
    p = subprocess.run([sys.executable, TRAIN, "--config", str(bad)], capture_output=True, text=True, timeout=120)
    assert p.returncode == 2
    err = p.stderr.strip()
    assert len(err.splitlines()) == 1 and "is not valid YAML at line" in err and str(bad) in err, err


def test_ctrl_c_leaves_the_last_checkpoint_loadable(tmp_path, capsys, monkeypatch):
    """A real SIGINT while the CLI trains (in this process, so it reuses the tiny
    run's compiled programs), sent from the loop itself once two checkpoints exist:
    exit 130, a hint to --resume, a loadable checkpoint."""
    out = str(tmp_path / "run")
    ckdir = os.path.join(out, "checkpoints")
    sets = [f"--set={k}={v}" for k, v in {**TINY, "total_steps": 4096, "hidden_sizes": "[16,16]"}.items()]

    sent = []

    class InterruptAfterTwoCheckpoints(RunDirRecorder):
        def chunk(self, *args):
            super().chunk(*args)
            assert not sent, "the run went on after SIGINT"
            if len(os.listdir(ckdir)) >= 2:
                sent.append(True)
                os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(runner, "RunDirRecorder", InterruptAfterTwoCheckpoints)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a shell, whatever ran before
    try:
        rc = train_cli.main(["--env", "inverted_pendulum", "--out", out, "--no-progress", *sets])
    finally:
        signal.signal(signal.SIGINT, previous)
    assert sent, "no SIGINT was sent"
    text = capsys.readouterr().out
    assert rc == 130, text
    assert "interrupted at env step" in text and "--resume" in text
    load_policy(find_checkpoints(out)[0])
