"""Specifications of Table 1's protocol: every paper config counts, evaluates and budgets as
the paper and the released code do (validation/table1_protocol.yaml), and a drifted config
is caught. No training."""
import json
import os
import shutil
import subprocess
import sys

import pytest
import yaml

from fpmd_mjx import protocol
from fpmd_mjx.config import CONFIG_DIR
from validation import protocol as protocol_cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REFERENCE = protocol.load_reference(os.path.join(ROOT, "validation", "table1_protocol.yaml"))
ROWS = protocol.rows()


def test_the_paper_configs_follow_the_reference():
    assert protocol.drift(ROWS, REFERENCE) == []


@pytest.mark.parametrize("algo", ["fpmd_r", "fpmd_m", "dpmd", "sac", "td3"])
def test_off_policy_algorithms_take_200k_updates_after_the_warm_up_and_humanoid_1m(algo):
    by_task = {r["task"]: r for r in ROWS if r["algo"] == algo}
    assert set(by_task) == set(protocol.TASKS)
    for task, r in by_task.items():
        updates = 1_000_000 if task == "humanoid" else 200_000
        assert (r["updates"], r["warmup_steps"], r["env_steps"]) == (updates, 30_000, 30_000 + 5 * updates)
        assert (r["eval_every"], r["eval_episodes"], r["gamma"]) == (25_000, 20, 0.99)


def test_table_1_evaluation_rules_dpmd_best_of_32_and_fpmd_one_sample():
    rules = {(r["algo"], r["eval_rule"], r["num_particles"]) for r in ROWS}
    assert rules == {("fpmd_r", "sample", 32), ("fpmd_m", "sample", 32), ("dpmd", "best_of_n", 32),
                     ("sac", "sample", None), ("td3", "sample", None), ("ppo", "sample", None)}


def test_ppo_trains_the_paper_budget_in_whole_ppo_steps():
    for r in (r for r in ROWS if r["algo"] == "ppo"):
        budget = 5_000_000 if r["task"] == "humanoid" else 1_000_000
        assert budget <= r["env_steps"] < budget + 25_000 and r["env_steps"] % 2048 == 0


def _drifted_config_dir(tmp_path, algo, task, **values):
    """A copy of configs/ with ``values`` set in ``algo``'s block for ``task``."""
    out = tmp_path / "configs"
    shutil.copytree(CONFIG_DIR, out)
    path = out / f"{algo}.yaml"
    doc = yaml.safe_load(path.read_text())
    doc.setdefault("tasks", {}).setdefault(task, {}).update(values)
    path.write_text(yaml.safe_dump(doc))
    return str(out)


def test_a_drifted_config_is_caught_with_the_value_and_its_source(tmp_path):
    # the budget of the old configs: 1M env steps with the warm-up inside them = 194,000 updates
    drifted = protocol.rows(_drifted_config_dir(tmp_path, "dpmd", "hopper", total_steps=1_000_000,
                                                eval_rule="sample"))
    lines = protocol.drift(drifted, REFERENCE)
    assert len(lines) == 3
    assert any(line.startswith("dpmd/hopper: updates = 194000, the reference says 200000 (paper section 5")
               for line in lines)
    assert any("dpmd/hopper: eval_rule = 'sample', the reference says 'best_of_n' (Table 1: DPMD" in line
               for line in lines)


def test_cli_prints_the_table_writes_json_rows_and_exits_1_on_drift(tmp_path, capsys):
    script = os.path.join(ROOT, "validation", "protocol.py")
    path = tmp_path / "p.json"
    p = subprocess.run([sys.executable, script, "--json", str(path)], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    rows = json.loads(path.read_text())
    assert len(rows) == len(protocol.ALGOS) * len(protocol.TASKS)
    assert all(tuple(r) == protocol.KEYS for r in rows)
    assert "| dpmd | hopper | 200,000 | 30,000 | 1,030,000 | best_of_n |" in p.stdout
    drifted = _drifted_config_dir(tmp_path, "sac", "reacher", eval_every=10_000)
    assert protocol_cli.main(["--config-dir", drifted]) == 1  # the same command line, in this process
    assert "sac/reacher: eval_every = 10000, the reference says 25000" in capsys.readouterr().out
