"""Specifications of fpmd_mjx.gym_eval and its command line validation/gym_eval.py: MJX-vs-Gymnasium agreement, CLI, bad input."""
import csv
import json
import os
import shutil
import subprocess
import sys

import jax
import numpy as np
import pytest

from fpmd_mjx import gym_eval, results_table, sweep
from fpmd_mjx.checkpoint import find_checkpoints, read_meta
from fpmd_mjx.parity import TOLERANCES
from fpmd_mjx.rebuild import load_critic, load_policy
from fpmd_mjx.runner import run
from scripts import locomotion_collect, plot_curves
from tests.tiny import TINY, tiny_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "validation", "gym_eval.py")
EPISODES = 16


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    """A warm-up-only InvertedPendulum run: its checkpoint's meta holds the MJX return of
    exactly the saved parameters over EPISODES episodes at NFE 1 and 2."""
    out = str(tmp_path_factory.mktemp("ip"))
    run(tiny_config(total_steps=64, eval_episodes=EPISODES), out, progress=False)
    return find_checkpoints(out)[0]


def _main(argv, capsys):
    rc = gym_eval.main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


def test_gym_return_matches_the_mjx_return_of_the_same_params(ckpt, tmp_path, capsys):
    # Fair comparison: the checkpoint's meta return is the MJX evaluation of exactly these
    # params, NFE 1, over EPISODES episodes; Gymnasium runs the same number of episodes.
    # InvertedPendulum's return is its episode length, so even an untrained policy gives
    # a meaningful comparison.  The two sides start from different random initial states,
    # so the tolerance is statistical: 4 standard errors of a difference of two means
    # (Gymnasium's spread as the common std) plus one step.
    rc, out, _ = _main([ckpt, "--episodes", str(EPISODES), "--json", str(tmp_path / "r.json")], capsys)
    assert rc == 0 and "inverted_pendulum" in out
    (row,) = json.load(open(tmp_path / "r.json"))["rows"]
    assert row["nfe"] == 1 and row["mjx_source"] == "meta" and row["mjx_episodes"] == EPISODES
    assert row["mjx_return"] == read_meta(ckpt)["eval_returns_by_nfe"]["1"]
    assert row["gym_return_mean"] == pytest.approx(row["episode_length_mean"])  # reward 1 per step
    tol = 4 * row["gym_return_std"] * np.sqrt(2 / EPISODES) + 1.0
    assert row["abs_gap"] <= tol, row
    assert f"{row['infer_ms_median']:>6.3f}" in out  # the measured act time is what the table reports


def test_paired_episodes_agree_step_for_step(ckpt):
    # Oracle: MJX started from Gymnasium's own initial states, with the harness's action
    # function and key schedule, must end each episode at the same step; the parity suite
    # allows 1e-6 per-step reward error and no termination mismatches for this task.
    cfg, trainer, params, _ = load_policy(ckpt)
    env, (prepare, act) = trainer.env, gym_eval.make_act(trainer, 1)
    params = prepare(params)
    gym_env = gym_eval.build_gym_env(cfg.env, render=False)
    res = gym_eval.run_episodes(gym_env, act, params, episodes=6, seed=3)
    step = jax.jit(env.step)
    mjx_returns = []
    for i in range(6):
        gym_env.reset(seed=3 + i)
        u = gym_env.unwrapped
        s = env.state_from_qpos_qvel(u.data.qpos.copy(), u.data.qvel.copy())
        key, ret = jax.random.fold_in(jax.random.PRNGKey(3), i), 0.0
        for t in range(env.episode_length):
            s = step(s, act(params, s.obs[None], key, t)[0])
            ret += float(s.reward)
            if s.done:
                break
        mjx_returns.append(ret)
    tol = TOLERANCES["inverted_pendulum"]["reward"] * env.episode_length
    np.testing.assert_allclose(res["returns"], mjx_returns, atol=max(tol, 1e-3))


def test_nfe_sweep_check_and_cli(ckpt, tmp_path):
    path = tmp_path / "sweep.json"
    video = tmp_path / "ep.gif"
    p = subprocess.run([sys.executable, SCRIPT, ckpt, "--episodes", "3", "--nfe", "1,2", "--json", str(path),
                        "--check", "1e9", "--render", str(video)], capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 0, p.stderr
    data = json.load(open(path))
    assert [r["nfe"] for r in data["rows"]] == [1, 2] and len(data["aggregate"]) == 2
    assert "Traceback" not in p.stderr
    assert video.exists() or "no working OpenGL backend" in p.stderr


def test_both_evaluation_rules_are_reported_and_labelled(ckpt, tmp_path, capsys):
    """``--policy sample,best_of_n``: one row per rule; the best-of-N rule ranks
    num_particles candidates with the checkpoint's saved critic, and its MJX return is
    recomputed with the same rule (the checkpoint records only the one-sample rule's)."""
    rc, out, _ = _main([ckpt, "--episodes", "2", "--policy", "sample,best_of_n",
                        "--json", str(tmp_path / "r.json")], capsys)
    rows = json.load(open(tmp_path / "r.json"))["rows"]
    assert rc == 0 and [r["policy"] for r in rows] == ["sample", "best_of_n"] and "best_of_n" in out
    assert rows[0]["mjx_source"] == "meta" and rows[1]["mjx_source"] == "evaluate"
    _, trainer, params, _ = load_policy(ckpt)

    critic = load_critic(ckpt, trainer)
    obs = jax.numpy.zeros((3, trainer.env.observation_size))
    a = trainer.agent.best_of_n((params, critic), obs, jax.random.PRNGKey(0), 1)
    assert a.shape == (3, trainer.env.action_size) and np.all(np.abs(a) <= 1)


def test_check_fails_on_a_gap_beyond_the_tolerance(ckpt, capsys):
    rc, _, err = _main([ckpt, "--episodes", "2", "--check", "-1"], capsys)
    assert rc == 1 and err.startswith("check failed:") and err.count("\n") == 1


def test_several_checkpoints_get_an_aggregate_row(ckpt, tmp_path, capsys):
    for seed in ("seed_0", "seed_1"):
        shutil.copytree(ckpt, tmp_path / seed / "best" / os.path.basename(ckpt))
    rc, out, _ = _main([str(tmp_path), "--episodes", "2", "--json", str(tmp_path / "a.json")], capsys)
    data = json.load(open(tmp_path / "a.json"))
    assert rc == 0 and len(data["rows"]) == 2 and "mean of 2" in out
    assert data["aggregate"][0]["gym_return_mean"] == data["rows"][0]["gym_return_mean"]  # same params, same seeds


def _incompatible(ckpt, tmp_path):
    bad = str(tmp_path / "old" / os.path.basename(ckpt))
    shutil.copytree(ckpt, bad)
    meta_file = os.path.join(bad, "meta", "metadata")
    meta = json.load(open(meta_file))
    json.dump({**meta, "format": 999}, open(meta_file, "w"))
    return bad


@pytest.mark.parametrize("case", ["missing", "not_a_checkpoint", "incompatible", "nfe_zero", "nfe_text",
                                  "nfe_empty", "bad_render_ext", "no_gym_env", "bad_policy", "no_critic"])
def test_bad_input_is_one_error_line_and_exit_2(case, ckpt, tmp_path, capsys, monkeypatch):
    argv = {"missing": [str(tmp_path / "nope")], "not_a_checkpoint": [str(tmp_path)],
            "nfe_zero": [ckpt, "--nfe", "0"], "nfe_text": [ckpt, "--nfe", "1,x"], "nfe_empty": [ckpt, "--nfe", ""],
            "bad_render_ext": [ckpt, "--render", "a.txt"], "no_gym_env": [ckpt],
            "bad_policy": [ckpt, "--policy", "greedy"]}.get(case)
    if case == "incompatible":
        argv = [_incompatible(ckpt, tmp_path)]
    if case == "no_critic":  # a checkpoint written before critics were saved
        old = str(tmp_path / "nocritic" / os.path.basename(ckpt))
        shutil.copytree(ckpt, old)
        shutil.rmtree(os.path.join(old, "critic"))
        argv = [old, "--policy", "best_of_n"]
    if case == "no_gym_env":
        import gymnasium

        def refuse(name, **kw):
            raise gymnasium.error.DependencyNotInstalled("mujoco is not installed (simulated)")
        monkeypatch.setattr(gym_eval, "make_gym_env", refuse)
    (tmp_path / "junk.txt").write_text("not a checkpoint")
    rc, out, err = _main(argv, capsys)
    assert rc == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1, err
    expected = {"missing": "does not exist", "not_a_checkpoint": "no fpmd_mjx checkpoint", "incompatible": "format 999",
                "nfe_zero": "--nfe", "nfe_text": "--nfe", "nfe_empty": "--nfe", "bad_render_ext": "--render",
                "no_gym_env": "cannot build the Gymnasium env", "bad_policy": "valid: sample, best_of_n",
                "no_critic": "no critic parameters"}[case]
    assert expected in err


def test_cli_bad_input_has_no_traceback(tmp_path):
    p = subprocess.run([sys.executable, SCRIPT, str(tmp_path / "nope")], capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert [ln for ln in p.stderr.splitlines() if ln.startswith("error: ")] == \
        [f"error: checkpoint path {str(tmp_path / 'nope')!r} does not exist"]


@pytest.fixture(scope="module")
def dpmd_run(tmp_path_factory):
    """A tiny DPMD run: its config's Table-1 rule is best-of-N (20 x 32 in the paper; here
    2-step chains x 4 candidates). (The config of tests/test_baselines.py's DPMD run, whose
    compiled programs it shares.)"""
    out = str(tmp_path_factory.mktemp("dpmd"))
    cfg = tiny_config("dpmd")
    return cfg, out, run(cfg, out, progress=False)


def test_dpmd_best_checkpoint_is_chosen_and_replayed_by_the_best_of_n_rule(dpmd_run, tmp_path, capsys):
    cfg, out, res = dpmd_run
    assert cfg.eval_rule == "best_of_n"
    evals = [float(r["eval_return"]) for r in csv.DictReader(open(os.path.join(out, "metrics.csv"))) if r["eval_return"]]
    best_dir = os.path.join(out, "best", max(os.listdir(os.path.join(out, "best")), key=int))
    meta = read_meta(best_dir)
    assert meta["eval_rule"] == "best_of_n" and meta["best_eval_return"] == max(evals) == res.best_returns[0]
    # the return that chose best/ is the best-of-N rule's, from the saved policy and critic
    _, trainer, params, _ = load_policy(best_dir)
    key = jax.random.fold_in(jax.random.PRNGKey(10_000 + cfg.seed), meta["env_steps"])
    evaluate = jax.jit(trainer.evaluate, static_argnums=(2, 3))
    ret, _ = evaluate((params, load_critic(best_dir, trainer)), key, cfg.flow_steps, "best_of_n")
    assert float(np.mean(ret)) == pytest.approx(meta["eval_return"], abs=1e-3)
    # gym_eval replays it by the run's rule at the run's NFE unless told otherwise
    rc, out_text, _ = _main([best_dir, "--episodes", "2", "--json", str(tmp_path / "d.json")], capsys)
    (row,) = json.load(open(tmp_path / "d.json"))["rows"]
    assert rc == 0 and (row["policy"], row["nfe"], row["mjx_source"]) == ("best_of_n", cfg.flow_steps, "meta")
    assert row["mjx_return"] == meta["eval_return"]
    rc, _, _ = _main([best_dir, "--episodes", "2", "--policy", "sample", "--json", str(tmp_path / "s.json")], capsys)
    (row,) = json.load(open(tmp_path / "s.json"))["rows"]
    assert rc == 0 and (row["policy"], row["mjx_source"]) == ("sample", "evaluate")


# ---- the results table of a sweep (fpmd_mjx.results_table, validation/results_table.py) ------

@pytest.fixture(scope="module")
def half_finished_sweep(tmp_path_factory):
    """A sweep of InvertedPendulum x (FPMD-R, DPMD), one seed each, stopped after FPMD-R's
    program: its plan names both programs, only FPMD-R's reached its budget."""
    out = str(tmp_path_factory.mktemp("sweep"))
    groups = sweep.plan(["inverted_pendulum"], ["fpmd_r", "dpmd"], 1, out, TINY)
    with open(os.path.join(out, sweep.PLAN_FILE), "w") as f:
        json.dump(sweep.plan_record(groups, {}), f)
    sweep.run(groups[:1], progress=False)
    return out


def test_results_table_refuses_an_unfinished_program_and_names_it(half_finished_sweep, capsys):
    assert results_table.main([half_finished_sweep, "--episodes", "2"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'inverted_pendulum-dpmd'" in err and "--finished-only" in err
    assert not os.path.exists(os.path.join(half_finished_sweep, "results.md"))


def test_results_table_of_the_finished_programs_replays_each_best_checkpoint_in_gymnasium(
        half_finished_sweep, tmp_path, capsys):
    assert results_table.main([half_finished_sweep, "--episodes", "2", "--finished-only"]) == 0
    out = capsys.readouterr().out
    assert "skipped inverted_pendulum-dpmd: 1 of 1 runs short of 128 env steps" in out
    (row,) = list(csv.DictReader(open(os.path.join(half_finished_sweep, "results.csv"))))
    assert (row["task"], row["algo"], row["rule"], row["seeds"], row["paper"]) == (
        "inverted_pendulum", "fpmd_r", "sample @ NFE 1", "1", "1000")
    # the cell is gym_eval's replay of the run's best checkpoint by its rule, and the MJX
    # return that chose that checkpoint
    best = os.path.join(half_finished_sweep, "inverted_pendulum-fpmd_r", "seed_0", "best")
    best = os.path.join(best, max(os.listdir(best), key=int))
    assert gym_eval.main([best, "--episodes", "2", "--json", str(tmp_path / "g.json")]) == 0
    (replay,) = json.load(open(tmp_path / "g.json"))["rows"]
    assert float(row["gym_mean"]) == pytest.approx(replay["gym_return_mean"])
    assert float(row["mjx_mean"]) == pytest.approx(read_meta(best)["eval_return"])
    assert float(row["gym_std"]) == 0.0 and int(row["env_steps"]) == read_meta(best)["env_steps"]
    assert "| inverted_pendulum | fpmd_r | sample @ NFE 1 | 1 |" in open(
        os.path.join(half_finished_sweep, "results.md")).read()


def test_locomotion_collect_keeps_the_finished_programs_in_the_results_location(half_finished_sweep, tmp_path,
                                                                               capsys, monkeypatch):
    """The chain's collector, over a directory of sweeps: the finished FPMD-R program's metrics,
    run.json and Gymnasium replay land in the results location, which alone then rebuilds the
    table and the curve; the unfinished DPMD program leaves nothing there; a second pass does
    not replay a run it already replayed; a cell tabled earlier without per-run replays is kept;
    the summary sets every algorithm's cells beside the paper's, in Table 1's layout."""
    runs, docs = tmp_path / "runs", tmp_path / "docs"
    runs.mkdir()
    os.symlink(half_finished_sweep, runs / "fpmd_r-s0")
    (docs / "fpmd_r").mkdir(parents=True)
    old = {"task": "hopper", "algo": "fpmd_r", "rule": "sample @ NFE 1", "grid": "", "seeds": 3, "env_steps": 310000,
           "gym_mean": 3000.0, "gym_std": 10.0, "mjx_mean": 2990.0, "mjx_std": 9.0, "paper": 3278}
    results_table.write([old], str(docs / "fpmd_r" / "results"))
    (docs / "sac").mkdir()
    results_table.write([{**old, "algo": "sac", "gym_mean": 2000.0, "paper": 3197}], str(docs / "sac" / "results"))
    assert locomotion_collect.main(["--runs", str(runs), "--docs", str(docs), "--episodes", "2"]) == 0
    assert "fpmd_r-s0: skipped inverted_pendulum-dpmd: 1 of 1 runs short of 128 env steps" in capsys.readouterr().out
    run = os.path.join("inverted_pendulum-fpmd_r", "seed_0")
    for name in ("metrics.csv", "run.json"):
        assert open(docs / "fpmd_r" / run / name).read() == open(os.path.join(half_finished_sweep, run, name)).read()
    replay = json.load(open(docs / "fpmd_r" / run / "gym.json"))
    assert (replay["task"], replay["algo"], replay["seed"], replay["episodes"]) == ("inverted_pendulum", "fpmd_r", 0, 2)
    assert sorted(os.listdir(docs / "fpmd_r")) == ["inverted_pendulum-fpmd_r", "results.csv", "results.md"]
    md = (docs / "fpmd_r" / "results.md").read_text()
    assert f"| inverted_pendulum | fpmd_r | sample @ NFE 1 | 1 | {replay['env_steps']} | {replay['gym']:.1f} ± 0.0 |" in md
    assert "| hopper | fpmd_r | sample @ NFE 1 | 3 | 310000 | 3000.0 ± 10.0 | 2990.0 ± 9.0 | 3278 |" in md
    assert sorted(os.listdir(docs)) == ["fpmd_r", "inverted_pendulum.png", "sac", "summary.csv", "summary.md"]
    summary = (docs / "summary.md").read_text().splitlines()
    assert summary[0] == "| task | | sac | td3 | fpmd_r | fpmd_m |"
    rate = np.median([float(r["steps_per_s"]) for r in csv.DictReader(open(docs / "fpmd_r" / run / "metrics.csv"))
                      if r["steps_per_s"]])
    assert summary[2:] == [  # hopper: both cells tabled earlier (no metrics behind them), FPMD-R at 1.5x SAC
        "| hopper | Gymnasium v4 return (seeds) | 2000.0 ± 10.0 (3) |  | 3000.0 ± 10.0 (3) |  |",
        "|  | x SAC | 1.00 |  | 1.50 |  |",
        "|  | paper (Table 1, 1M env steps) | 3197 | 1934 | 3278 | 2076 |",
        "|  | paper x SAC | 1.00 | 0.60 | 1.03 | 0.65 |",
        "|  | env steps/s per run (median) |  |  |  |  |",
        f"| inverted_pendulum | Gymnasium v4 return (seeds) |  |  | {replay['gym']:.1f} ± 0.0 (1) |  |",
        "|  | x SAC |  |  |  |  |",
        "|  | paper (Table 1, 1M env steps) | 1000 | 1000 | 1000 | 1000 |",
        "|  | paper x SAC | 1.00 | 1.00 | 1.00 | 1.00 |",
        f"|  | env steps/s per run (median) |  |  | {rate:.1f} |  |"]
    # the run directories may go: the results location alone redraws and retables, replaying nothing
    monkeypatch.setattr(results_table, "replay_runs", lambda *a, **k: pytest.fail("replayed twice"))
    os.remove(docs / "inverted_pendulum.png")
    assert locomotion_collect.main(["--runs", str(runs), "--docs", str(docs), "--episodes", "2"]) == 0
    assert os.path.exists(docs / "inverted_pendulum.png") and (docs / "fpmd_r" / "results.md").read_text() == md
    # the curve's line is labelled by the program's runs' config (each seed directory's run.json)
    assert plot_curves.load_run(str(docs / "fpmd_r" / "inverted_pendulum-fpmd_r"))["label"] == "inverted_pendulum / fpmd_r"


def test_results_table_with_no_finished_program_is_one_error_line(half_finished_sweep, tmp_path, capsys):
    plan = sweep.load_plan(half_finished_sweep)
    plan["groups"] = plan["groups"][1:]  # the DPMD program alone
    shutil.copytree(half_finished_sweep, tmp_path / "s")
    (tmp_path / "s" / sweep.PLAN_FILE).write_text(json.dumps(plan))
    assert results_table.main([str(tmp_path / "s"), "--finished-only"]) == 2
    assert capsys.readouterr().err == f"error: no program of {str(tmp_path / 's')!r} has reached its budget yet\n"
