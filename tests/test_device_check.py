"""The accelerator session script runs end to end on CPU (``--smoke``), so it is ready
the moment a GPU is at hand."""
import json
from pathlib import Path

import pytest

from benchmarks import device_check


def test_device_check_smoke_measures_every_step_and_writes_its_report(tmp_path, monkeypatch):
    """The GPU-loop-flags step's fresh process runs in this one instead (the flags only
    matter on a GPU; the same compiled programs serve it)."""
    calls, real_run = [], device_check.subprocess.run

    def in_process(cmd, *args, env=None, **kw):
        if not str(cmd[1]).endswith("device_check.py"):
            return real_run(cmd, *args, env=env, **kw)
        calls.append((cmd, env))
        return device_check.main(cmd[2:])

    monkeypatch.setattr(device_check.subprocess, "run", in_process)
    # a budget no machine runs out of: what is measured must not depend on the machine's speed
    assert device_check.main(["--smoke", "--out", str(tmp_path), "--budget-s", "3600"]) == 0
    assert calls and calls[0][1]["FPMD_MJX_GPU_LOOPS"] == "1" and "--only-iteration" in calls[0][0]
    res = json.loads((tmp_path / "results.json").read_text())
    assert {(r["profile"], r["batch"]) for r in res["latency"]} == {("faithful", 5), ("newton1", 5)}
    for r in res["latency"]:  # one measurement, two units
        assert r["ms_per_vector_step"] == pytest.approx(1e3 * r["batch"] / r["steps_per_s"])
    it = res["iteration"]  # the smoke measures one seed (one compile; the full plan 1, 5 and 10)
    assert set(it) == {"1"} and it["1"]["vs_one_seed"] == 1.0
    assert it["1"]["env_steps_per_s"] == pytest.approx(1e3 * 4 / it["1"]["ms_per_iteration"])  # 4 envs
    loops = res["gpu_loops"]
    assert loops["default"] == it["1"]
    assert loops["ratio"] == pytest.approx(loops["flags"]["ms_per_iteration"] / it["1"]["ms_per_iteration"])
    learn = res["learning"]  # the smoke's protocol runs to its end, so its best checkpoints are replayed
    assert learn["env_steps"] == learn["protocol_env_steps"] == 256 and learn["finished"]
    assert learn["updates"] == learn["protocol_updates"] == (256 - 64) // 4 and learn["eval_rule"] == "sample"
    assert len(learn["best_returns"]) == 1 and len(learn["gym_returns"]) == 1
    assert all(g is not None and g >= 1 for g in learn["gym_returns"])  # InvertedPendulum pays 1 per step
    report = (tmp_path / "report.md").read_text()
    assert "## MJX env-step latency" in report and "## Training iteration" in report
    assert (tmp_path / "learning" / "metrics.csv").exists()


def test_the_learning_run_is_sized_after_its_compilation_and_warm_up():
    """The H200 session of 2026-12-04 in numbers: 220 s left, 11 ms and 31 s of compilation per
    iteration, the paper's 30k warm-up at 5 envs (6,000 vector steps, 66 s)."""
    iters = device_check.learning_iterations(220.0, 11.0, 31.0, 30_000, 5)
    fixed_s = 2 * 31.0 + 6_000 * 11.0 / 1e3
    assert iters == int(0.7 * (220.0 - fixed_s) * 1e3 / 11.0)
    assert fixed_s + iters * 11.0 / 1e3 < 220.0  # the whole run fits in what is left
    assert device_check.learning_iterations(120.0, 11.0, 31.0, 30_000, 5) == 0  # the warm-up alone does not fit


def test_missing_out_is_one_error_line(capsys):
    assert device_check.main([]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_a_wheel_split_into_parts_is_reassembled_bit_for_bit(tmp_path, monkeypatch):
    monkeypatch.setattr(device_check, "PART_BYTES", 1000)
    wheel = tmp_path / "big-1.0-py3-none-any.whl"
    data = bytes(range(256)) * 10
    wheel.write_bytes(data)
    parts = device_check.split_wheel(str(wheel))
    assert len(parts) == 3 and not wheel.exists()
    Path(parts[2]).rename(tmp_path / "elsewhere")  # an incomplete set is left alone
    assert device_check.join_wheels(str(tmp_path)) == []
    (tmp_path / "elsewhere").rename(parts[2])
    assert device_check.join_wheels(str(tmp_path)) == [str(wheel)]
    assert wheel.read_bytes() == data


def test_gpu_loop_flags_are_added_once_and_only_when_asked(monkeypatch):
    from fpmd_mjx import jax_setup

    monkeypatch.setenv("XLA_FLAGS", "--xla_dump_to=/tmp/x")
    assert not jax_setup.gpu_loop_flags(False)
    assert jax_setup.gpu_loop_flags(True) and jax_setup.gpu_loop_flags(True)
    import os

    flags = os.environ["XLA_FLAGS"]
    assert flags.startswith("--xla_dump_to=/tmp/x") and flags.count("--xla_gpu_enable_command_buffer") == 1
