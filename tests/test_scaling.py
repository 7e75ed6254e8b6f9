"""Scaling out: sweeps (scripts/sweep.py, fpmd_mjx.sweep) run the runs of one (task, algo)
as one program over a sharded run axis, each run written exactly as a lone run; one run
can be data parallel over several devices (``devices``); bad input is one line.

The tests that need several devices or processes run in subprocesses (XLA's host
platform split into CPU devices; two processes joined by ``jax.distributed`` on
127.0.0.1) and carry the ``multidevice`` mark: CI runs them after the default run."""
from __future__ import annotations

import copy
import json
import os
import socket
import subprocess
import sys
import textwrap

import pytest

from fpmd_mjx import sweep
from fpmd_mjx.config import Config, ConfigError
from fpmd_mjx.runner import RunSpec
from tests.tiny import TINY

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "scripts", "sweep.py")
TINY_SET = [f"--set={k}={v}" for k, v in TINY.items() if k != "hidden_sizes"] + ["--set=hidden_sizes=[16,16]"]


# ---- the plan ------------------------------------------------------------------------------

def test_a_plan_has_one_group_per_task_and_algo_and_a_run_per_seed_and_grid_point(tmp_path):
    groups = sweep.plan(["inverted_pendulum", "Reacher-v4"], ["fpmd_r", "sac"], 3, str(tmp_path), TINY,
                        sweep.parse_grid(["lam=0.5,2", "tau=0.01"]))
    assert [g.name for g in groups] == ["inverted_pendulum-fpmd_r", "inverted_pendulum-sac", "reacher-fpmd_r",
                                        "reacher-sac"]
    runs = groups[0].runs
    assert len(runs) == 2 * 3
    assert runs[0].out == os.path.join(str(tmp_path), "inverted_pendulum-fpmd_r", "lam=0.5,tau=0.01", "seed_0")
    assert [r.seed for r in runs[:3]] == [0, 1, 2]
    assert runs[4].config(groups[0].cfg).lam == 2.0
    assert not os.listdir(tmp_path)  # planning writes nothing


def test_a_plan_saved_before_a_config_field_existed_still_resumes_and_another_plan_does_not(tmp_path):
    record = sweep.plan_record(sweep.plan(["inverted_pendulum"], ["fpmd_m"], 2, str(tmp_path), TINY), {})
    older = copy.deepcopy(record)
    for g in older["groups"]:
        del g["config"]["episode_length"]  # a field added later, None by default
    assert sweep.same_plan(older, record)
    other = sweep.plan_record(sweep.plan(["inverted_pendulum"], ["fpmd_m"], 2, str(tmp_path),
                                         {**TINY, "total_steps": 256}), {})
    assert not sweep.same_plan(other, record)
    assert not sweep.same_plan(sweep.plan_record(sweep.plan(["inverted_pendulum"], ["fpmd_m"], 3, str(tmp_path),
                                                            TINY), {}), record)  # another seed count


def test_a_group_is_new_partial_or_done_by_its_runs_checkpoints(tmp_path):
    """--resume skips a group whose every run is checkpointed at the budget, continues one whose
    every run has a checkpoint (or that left a multi-process group checkpoint), and starts over
    one with a run that has none; a half-written step directory does not count."""
    def save(run, step, items=("meta", "policy")):
        for item in items:
            os.makedirs(tmp_path / run / "checkpoints" / str(step) / item)

    group = sweep.Group(cfg=Config(total_steps=300, warmup_steps=0), runs=(RunSpec(str(tmp_path / "a"), 0),
                                                            RunSpec(str(tmp_path / "b"), 1)), out=str(tmp_path))
    plan = {"config": {"total_steps": 300}, "runs": [{"dir": "a"}, {"dir": "b"}]}
    assert sweep.status(group) == "new"
    save("a", 100)
    save("b", 100, items=("meta",))  # a stop in the middle of b's first save
    assert sweep.status(group) == "new"
    os.makedirs(tmp_path / "group_state" / "100" / "meta")
    assert sweep.status(group) == "partial"  # a multi-process job's group checkpoint
    os.rmdir(tmp_path / "group_state" / "100" / "meta")
    save("b", 200)
    save("a", 300)
    assert sweep.status(group) == "partial" and sweep.unfinished_runs(str(tmp_path), plan) == ["b"]
    save("b", 300)
    assert sweep.status(group) == "done" and sweep.unfinished_runs(str(tmp_path), plan) == []


@pytest.mark.parametrize("items, words", [
    (["num_particles=8,16"], "changes the compiled program"),
    (["hidden_sizes=64"], "changes the compiled program"),
    (["lambda=1,2"], "unknown field 'lambda'"),
    (["lam=a,b"], "values must be numbers"),
    (["lam"], "expected FIELD=V1,V2"),
])
def test_a_bad_grid_is_a_one_line_error_naming_the_field(items, words):
    with pytest.raises(ConfigError, match=words) as e:
        sweep.parse_grid(items)
    assert "\n" not in str(e.value)


def test_a_grid_value_the_config_rejects_is_a_one_line_error(tmp_path):
    with pytest.raises(ConfigError, match="gamma"):
        sweep.plan(["inverted_pendulum"], ["fpmd_m"], 1, str(tmp_path), TINY, {"gamma": (0.99, 2.0)})


@pytest.mark.parametrize("args, words", [
    (["--envs", "hopper,cartpole", "--algos", "fpmd_m"], "unknown task 'cartpole'; valid tasks: ant"),
    (["--envs", "hopper", "--algos", "fpmd_m,a2c"], "unknown algo 'a2c'; valid algos: fpmd_r"),
    (["--envs", "hopper", "--algos", "fpmd_m", "--grid", "num_envs=4,8"], "--grid num_envs: changes"),
    (["--envs", "hopper", "--algos", "fpmd_m", "--grid", "foo=1"], "unknown field 'foo'"),
    (["--envs", "hopper", "--algos", "fpmd_m", "--devices", "9"], "--devices 9: this machine has"),
    (["--envs", "hopper", "--algos", "ppo", "--steps", "1000"], "ppo: total_steps=1000 must be a multiple of"),
    (["--envs", "hopper", "--algos", "fpmd_m", "--coordinator", "127.0.0.1:1", "--num-processes", "2",
      "--process-id", "2"], "--process-id 2 out of range; valid: 0..1"),
    (["--envs", "hopper", "--algos", "fpmd_m", "--process-id", "1"], "need --coordinator"),
    (["--envs", "hopper", "--algos", "fpmd_m", "--coordinator", "nohost"], "expected HOST:PORT"),
])
def test_bad_sweep_arguments_are_one_line_errors_that_write_nothing(tmp_path, capsys, args, words):
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    import sweep as cli  # scripts/sweep.py

    out = tmp_path / "sw"
    assert cli.main([*args, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and len(err.splitlines()) == 1, err
    assert not out.exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_coordinator_is_a_one_line_error_that_writes_nothing(tmp_path):
    out = tmp_path / "sw"
    port = _free_port()  # nobody listens there
    r = subprocess.run([sys.executable, SCRIPT, "--envs", "inverted_pendulum", "--algos", "fpmd_r", "--out", str(out),
                        "--coordinator", f"127.0.0.1:{port}", "--num-processes", "2", "--process-id", "1",
                        "--peer-timeout", "2"], check=False, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 2, r.stderr[-2000:]
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and f"cannot join the job at coordinator 127.0.0.1:{port}" in errors[0], r.stderr[-2000:]
    assert not out.exists()


_JOIN_AND_LEAVE = """
import sys
from fpmd_mjx.distributed import Distributed
d = Distributed.from_args(sys.argv[1], 3, int(sys.argv[2]), peer_timeout=30)
d.initialize()
d.sync()
d.shutdown()
print("left")
"""


def test_processes_that_finish_together_all_leave_the_job_cleanly():
    """Process 0 hosts the coordination service and leaves last: a process still
    disconnecting when the service stops would be aborted by the runtime (exit 1)."""
    address = f"127.0.0.1:{_free_port()}"
    jobs = [subprocess.Popen([sys.executable, "-c", _JOIN_AND_LEAVE, address, str(p)], cwd=ROOT, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE) for p in (0, 1, 2)]
    for j in jobs:
        out, err = j.communicate(timeout=300)
        assert j.returncode == 0 and out.strip() == "left", err[-2000:]


# ---- several devices (subprocess) -------------------------------------------------------------

def _result_of(code: str) -> dict:
    """Run ``code`` in a fresh Python (its own XLA_FLAGS) and parse its ``RESULT{json}`` line."""
    r = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=1200,
                       cwd=ROOT)
    line = next((ln for ln in r.stdout.splitlines() if ln.startswith("RESULT")), None)
    assert line, r.stderr[-3000:]
    return json.loads(line[len("RESULT"):])


FOUR_DEVICES = textwrap.dedent("""
    import dataclasses, json, os, sys
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"
    sys.path.insert(0, {root!r})
    from fpmd_mjx.jax_setup import enable_compilation_cache
    enable_compilation_cache()
    import jax, numpy as np
    from fpmd_mjx import sweep
    from fpmd_mjx.checkpoint import read_meta
    from fpmd_mjx.rebuild import load_policy
    from fpmd_mjx.runner import run_group
    from tests.tiny import TINY
    out = {out!r}
    assert len(jax.devices()) == 4
    groups = sweep.plan(["inverted_pendulum"], ["fpmd_r"], 2, os.path.join(out, "sweep"), TINY,
                        {{"lam": (0.5, 8.0), "tau": (0.05,)}})
    sweep.run(groups, progress=False, mesh=sweep.mesh_or_none())
    g = groups[0]
    for r in g.runs:  # the same runs one by one, on one device
        run_group(g.cfg, [dataclasses.replace(r, out=r.out.replace("sweep", "alone"))], progress=False)
    def final(d):
        step = os.path.join(d, "checkpoints", str(g.cfg.total_steps))
        return [np.asarray(x) for x in jax.tree.leaves(load_policy(step)[2])], read_meta(step)
    res = []
    for r in g.runs:
        (a, ma), (b, mb) = final(r.out), final(r.out.replace("sweep", "alone"))
        res.append({{"dir": os.path.relpath(r.out, out), "max_diff": max(float(np.abs(x - y).max()) for x, y in zip(a, b)),
                     "eval": [ma["eval_return"], mb["eval_return"]], "lam": ma["config"]["lam"],
                     "tau": ma["config"]["tau"], "seed": ma["seed"], "params": [float(x.sum()) for x in a]}})
    again = sweep.run(groups, resume=True, progress=False, mesh=sweep.mesh_or_none())
    print("RESULT" + json.dumps({{"runs": res, "resumed": list(again)}}))
""")


@pytest.mark.multidevice
def test_a_sweep_on_four_devices_trains_each_run_bit_for_bit_as_alone(tmp_path):
    """4 runs (2 seeds x lam 0.5, 8) on 4 CPU devices, one run per device, equal the same
    runs trained one at a time on one device, bit for bit; lam changes the result."""
    out = _result_of(FOUR_DEVICES.format(root=ROOT, out=str(tmp_path)))
    runs = out["runs"]
    assert [(x["lam"], x["tau"], x["seed"]) for x in runs] == [(0.5, 0.05, 0), (0.5, 0.05, 1), (8.0, 0.05, 0),
                                                                (8.0, 0.05, 1)]
    for x in runs:
        assert x["max_diff"] == 0.0 and x["eval"][0] == x["eval"][1], x
        assert os.path.isfile(os.path.join(str(tmp_path), x["dir"], "run.json"))
        assert os.path.isfile(os.path.join(str(tmp_path), x["dir"], "metrics.csv"))
    assert runs[0]["params"] != runs[2]["params"]  # same seed, other lam: another run
    assert runs[0]["params"] != runs[1]["params"]
    assert out["resumed"] == []  # --resume of a finished sweep trains nothing


ROWS_ON_FOUR_DEVICES = textwrap.dedent("""
    import json, os, sys
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"
    sys.path.insert(0, {root!r})
    import jax, numpy as np
    from fpmd_mjx.programs import RunRows
    mesh = jax.sharding.Mesh(np.array(jax.devices()), ("runs",))
    rows = RunRows(8, mesh)  # two runs per device
    host = [{{"w": np.full((3,), k, np.float32), "step": np.int32(10 * k)}} for k in range(8)]
    tree = rows.put(host)
    res = []
    for k in range(8):
        row = RunRows.row(tree, k)
        res.append({{"w": np.asarray(row["w"]).tolist(), "step": int(row["step"]),
                     "devices": sorted(d.id for leaf in jax.tree.leaves(row) for d in leaf.sharding.device_set)}})
    print("RESULT" + json.dumps(res))
""")


@pytest.mark.multidevice
def test_a_run_row_is_read_on_the_one_device_that_holds_it():
    """Row k of a run axis sharded over 4 CPU devices (the checkpoint of run k) comes from
    the device holding it, never from a gather over the mesh: a program with a collective
    across devices, which XLA's CPU devices abort on a busy machine when one device arrives
    late (a flaky sweep test in CI)."""
    res = _result_of(ROWS_ON_FOUR_DEVICES.format(root=ROOT))
    assert [r["w"] for r in res] == [[float(k)] * 3 for k in range(8)]
    assert [r["step"] for r in res] == [10 * k for k in range(8)]
    assert [r["devices"] for r in res] == [[k // 2, k // 2] for k in range(8)]



LATE_GATHER = """
import json, sys, time
from fpmd_mjx.distributed import Distributed
d = Distributed.from_args(sys.argv[1], 2, int(sys.argv[2]), peer_timeout=60)
d.initialize()
import jax, numpy as np
from fpmd_mjx.programs import RunRows
mesh = jax.sharding.Mesh(np.array(jax.devices()), ("runs",))  # one CPU device per process
rows = RunRows(4, mesh, barrier=d.sync)
tree = rows.put([{"w": np.full((2,), k, np.float32)} if k in rows.local else None for k in range(4)])
doubled = jax.jit(lambda t: jax.tree.map(lambda x: 2 * x, t))(tree)
if jax.process_index() == 1:
    time.sleep(float(sys.argv[3]))  # as a process still compiling on a busy machine
got = rows.get(doubled)
ids = rows.across_processes(np.float64(jax.process_index()))
d.shutdown()
print("RESULT" + json.dumps({"w": [got[k]["w"].tolist() for k in range(4)], "ids": ids.tolist()}))
"""


@pytest.mark.multidevice
def test_a_gather_across_processes_waits_for_a_process_that_arrives_late():
    """Two processes gather a run axis (two rows each) while process 1 arrives 40 s late, past
    the 30 s after which the runtime's CPU collectives give up on a peer (a failed sweep resume
    in CI): the barrier first waits for it, as long as its heartbeat goes on, and both
    processes get every row."""
    address = f"127.0.0.1:{_free_port()}"
    jobs = [subprocess.Popen([sys.executable, "-c", LATE_GATHER, address, str(p), "40"], cwd=ROOT, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE) for p in (0, 1)]
    for j in jobs:
        out, err = j.communicate(timeout=600)
        line = next((ln for ln in out.splitlines() if ln.startswith("RESULT")), None)
        assert j.returncode == 0 and line, err[-3000:]
        res = json.loads(line[len("RESULT"):])
        assert res["w"] == [[2.0 * k] * 2 for k in range(4)] and res["ids"] == [0.0, 1.0]


# ---- one run over several devices (data parallel) -------------------------------------------

def test_data_parallel_devices_must_split_envs_and_batches_evenly():
    from tests.tiny import tiny_config

    with pytest.raises(ConfigError, match="devices=3: num_envs=4 and batch_size=16 must both be multiples"):
        tiny_config(devices=3)


def test_train_refuses_more_devices_than_present_in_one_line(tmp_path, capsys):
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    import train as cli  # scripts/train.py

    out = tmp_path / "run"
    assert cli.main(["--env", "inverted_pendulum", "--set", "devices=64", "--set", "num_envs=64",
                     "--set", "batch_size=64", "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert "devices=64: only" in err and "valid: 1.." in err and len(err.splitlines()) == 1, err
    assert not out.exists()


DATA_PARALLEL = textwrap.dedent("""
    import json, os, sys
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"
    sys.path.insert(0, {root!r})
    from fpmd_mjx.jax_setup import enable_compilation_cache
    enable_compilation_cache()
    import jax, numpy as np
    from fpmd_mjx.rebuild import load_policy
    from fpmd_mjx.runner import programs, run
    from tests.tiny import tiny_config
    out = {out!r}
    finals = {{}}
    for d in (1, 4):
        cfg = tiny_config(devices=d)
        res = run(cfg, os.path.join(out, str(d)), progress=False)
        step = os.path.join(out, str(d), "checkpoints", str(cfg.total_steps))
        finals[d] = [np.asarray(x, np.float64) for x in jax.tree.leaves(load_policy(step)[2])]
    progs = programs(tiny_config(devices=4), 1)
    state = progs.warmup({{}}, progs.init({{}}, jax.random.PRNGKey(0)[None]))
    rel = max(float(np.abs(a - b).max() / (np.abs(a).max() + 1e-12)) for a, b in zip(finals[1], finals[4]))
    print("RESULT" + json.dumps({{"rel": rel, "env_devices": len(state.env_state.obs.sharding.device_set),
                                  "buffer_devices": len(state.buffer.experience["obs"].sharding.device_set)}}))
""")


@pytest.mark.multidevice
def test_a_data_parallel_run_on_four_devices_matches_one_device_to_float32_rounding(tmp_path):
    """The tiny FPMD-R run with its 4 envs and 16-item batches split over 4 CPU devices
    ends with the policy of the one-device run up to float32 rounding (relative 1e-5;
    measured 4e-7): the gradients are averaged over the devices, not summed or dropped."""
    out = _result_of(DATA_PARALLEL.format(root=ROOT, out=str(tmp_path)))
    assert out["env_devices"] == 4
    assert out["rel"] < 1e-5, out


# ---- several processes (subprocesses joined by jax.distributed) --------------------------------

PPO_SET = ["--set=num_envs=8", "--set=ppo_unroll_length=8", "--set=ppo_num_minibatches=2",
           "--set=ppo_updates_per_batch=1", "--set=chunk_iterations=16", "--set=hidden_sizes=[16,16]",
           "--set=ppo_value_hidden_sizes=[16,16]", "--set=eval_episodes=4", "--set=buffer_size=8"]


def _sweep_process(out, budget, process_id=None, port=None, devices=2, algo="fpmd_r"):
    """``scripts/sweep.py`` (3 seeds of the tiny ``algo`` on InvertedPendulum) as process
    ``process_id`` of a two-process job on ``devices`` CPU devices each, or alone."""
    sets = PPO_SET if algo == "ppo" else TINY_SET
    cmd = [sys.executable, SCRIPT, "--envs", "inverted_pendulum", "--algos", algo, "--seeds", "3",
           "--out", str(out), "--no-progress", *sets, *budget]
    if process_id is not None:
        cmd += ["--coordinator", f"127.0.0.1:{port}", "--num-processes", "2", "--process-id", str(process_id),
                "--peer-timeout", "30"]
    env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)


def _job(out, budget, devices=2, algo="fpmd_r"):
    """Both processes of a two-process sweep, to completion."""
    port = _free_port()
    procs = [_sweep_process(out, budget, p, port, devices, algo) for p in (0, 1)]
    for p in procs:
        assert p.wait(timeout=900) == 0, p.stderr.read()[-3000:]


def _finals(out) -> dict:
    """``{run dir: (env step, eval return, policy parameters)}`` of every run's newest checkpoint."""
    import jax
    import numpy as np

    from fpmd_mjx.checkpoint import checkpoint_steps
    from fpmd_mjx.rebuild import load_policy

    res = {}
    for root, dirs, _ in os.walk(out):
        if "checkpoints" in dirs:
            step = max(checkpoint_steps(root))
            _, _, params, meta = load_policy(os.path.join(root, "checkpoints", str(step)))
            res[os.path.relpath(root, out)] = (step, meta["eval_return"], [np.asarray(x) for x in jax.tree.leaves(params)])
    return res


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(
        a[k][:2] == b[k][:2] and all((x == y).all() for x, y in zip(a[k][2], b[k][2])) for k in a)


@pytest.mark.multidevice
def test_two_processes_train_ppo_seeds_as_one_process_does(tmp_path):
    """PPO's seeds sit on the run axis like every algorithm's: 3 runs over 2 processes x 2
    CPU devices end bit for bit as the same sweep in one process on 4 devices."""
    budget = ["--steps", "256", "--set=eval_every=128", "--set=checkpoint_every=128"]
    one = _sweep_process(tmp_path / "one", budget, devices=4, algo="ppo")
    assert one.wait(timeout=900) == 0, one.stderr.read()[-3000:]
    _job(tmp_path / "two", budget, algo="ppo")
    two, ref = _finals(tmp_path / "two"), _finals(tmp_path / "one")
    assert len(ref) == 3 and all(v[0] == 256 for v in ref.values())
    assert _same(two, ref)


@pytest.mark.multidevice
def test_a_sweep_stopped_and_resumed_on_other_process_counts_ends_as_one_process_does(tmp_path):
    """3 runs, stopped by --until at env step 1024 of 4096 and resumed, bit for bit the same
    whichever the process count of each half (one run per CPU device: runs vmapped together
    on one device round differently):
    - two processes x 2 devices write the same per-run checkpoints at 1024 as one process on
      4 devices, each run's log by the process holding it, plus a group checkpoint of the
      program's state (one process writes per-run states only);
    - --resume on one process finishes the two-process job from its group checkpoint, and
      --resume on two processes finishes the one-process sweep from its per-run states,
      each restoring the runs it holds; both end at 4096 with the same policies, one log per run."""
    long = ["--steps", "4096", "--set=eval_every=256", "--set=checkpoint_every=1024"]
    two, one = tmp_path / "two", tmp_path / "one"
    _job(two, long + ["--until", "1024"])
    alone = _sweep_process(one, long + ["--until", "1024"], devices=4)
    assert alone.wait(timeout=900) == 0, alone.stderr.read()[-3000:]
    assert "stopped at env step 1024 (--until)" in alone.stdout.read()
    at_1024 = _finals(two)
    assert len(at_1024) == 3 and all(v[0] == 1024 for v in at_1024.values())
    assert _same(at_1024, _finals(one))
    for k in range(3):
        assert os.path.isfile(two / "inverted_pendulum-fpmd_r" / f"seed_{k}" / "metrics.csv")
    group = two / "inverted_pendulum-fpmd_r" / "group_state"
    assert max(int(d.name) for d in group.iterdir() if d.name.isdigit()) == 1024
    assert not (one / "inverted_pendulum-fpmd_r" / "group_state").exists()

    resumed = _sweep_process(two, long + ["--resume"], devices=4)
    assert resumed.wait(timeout=900) == 0, resumed.stderr.read()[-3000:]
    assert "(partial)" in resumed.stdout.read()
    _job(one, long + ["--resume"])
    finals = _finals(two)
    assert len(finals) == 3 and all(v[0] == 4096 for v in finals.values()), {k: v[:2] for k, v in finals.items()}
    assert _same(finals, _finals(one))
    assert (one / "inverted_pendulum-fpmd_r" / "group_state" / "4096").is_dir()
    for out in (one, two):
        with open(out / "inverted_pendulum-fpmd_r" / "seed_2" / "metrics.csv") as f:
            logged = [int(line.split(",")[0]) for line in f.readlines()[1:]]
        assert min(logged) <= 1024 < max(logged) == 4096  # one log, continued


@pytest.mark.multidevice
def test_a_process_lost_mid_job_is_named_by_the_other_in_one_line(tmp_path):
    """Process 1 of a two-process sweep is killed once both have joined (process 0 prints the
    plan after the job is complete), on a budget no machine finishes first: process 0 exits
    with code 3 and one line naming the lost process."""
    port = _free_port()
    huge = ["--steps", "100000000", "--set=eval_every=1000000", "--set=checkpoint_every=1000000"]
    procs = [_sweep_process(tmp_path / "killed", huge, p, port) for p in (0, 1)]
    lines = iter(procs[0].stdout.readline, "")
    assert any("sweep of 3 runs" in ln for ln in lines), procs[0].stderr.read()[-3000:]
    procs[1].kill()
    rc = procs[0].wait(timeout=900)
    errors = [ln for ln in procs[0].stderr.read().splitlines() if ln.startswith("error:")]
    assert rc == 3 and len(errors) == 1 and "process 1 of 2 stopped responding" in errors[0], errors
