"""The accelerator session script runs end to end on CPU (``--smoke``), so it is ready
the moment a GPU is at hand."""
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import device_check


def test_device_check_smoke_measures_every_step_and_writes_its_report(tmp_path):
    assert device_check.main(["--smoke", "--out", str(tmp_path)]) == 0
    res = json.loads((tmp_path / "results.json").read_text())
    assert {(r["profile"], r["batch"]) for r in res["latency"]} == {("faithful", 5), ("newton1", 5)}
    assert all(r["ms_per_vector_step"] > 0 for r in res["latency"])
    assert set(res["iteration"]) == {"1", "2"} and res["iteration"]["2"]["vs_one_seed"] > 0
    assert res["learning"]["env_steps"] > 0 and len(res["learning"]["eval_returns"]) == 2
    report = (tmp_path / "report.md").read_text()
    assert "## MJX env-step latency" in report and "## Training iteration" in report
    assert (tmp_path / "learning" / "seed_1" / "metrics.csv").exists()


def test_missing_out_is_one_error_line(capsys):
    assert device_check.main([]) == 2
    assert capsys.readouterr().err.count("\n") == 1
