"""Baselines and evidence: the SAC and DPMD agents, the latency benchmark, the figure
scripts (from tiny trained checkpoints) and the brax-SAC comparison (slow)."""
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from benchmarks import bench_inference, compare_brax_ppo, compare_brax_sac
from fpmd_mjx.agents import make_agent
from fpmd_mjx.agents.dpmd import ddpm_policy
from fpmd_mjx.jax_setup import brax_agents_unavailable
from scripts import plot_curves, plot_trajectories
from tests.tiny import tiny_config

OBS, ACT = 4, 1  # InvertedPendulum


def fake_batch(key, b=16):
    k1, k2, k3 = jax.random.split(key, 3)
    return {"obs": jax.random.normal(k1, (b, OBS)), "action": jax.random.uniform(k2, (b, ACT), minval=-1, maxval=1),
            "reward": jnp.ones(b), "next_obs": jax.random.normal(k3, (b, OBS)), "terminated": jnp.zeros(b)}


@pytest.mark.parametrize("algo", ["sac", "dpmd", "td3"])
def test_baseline_builds_explores_updates_and_samples(algo):
    cfg = tiny_config(algo)
    agent = make_agent(cfg, OBS, ACT)
    state = agent.init(jax.random.PRNGKey(0))
    obs = jax.random.normal(jax.random.PRNGKey(1), (3, OBS))
    a = jax.jit(agent.explore)(state, obs, jax.random.PRNGKey(2))
    assert a.shape == (3, ACT) and bool(jnp.all(jnp.abs(a) <= 1.0))
    new, metrics = jax.jit(agent.update)(state, fake_batch(jax.random.PRNGKey(3)), jax.random.PRNGKey(4))
    assert all(np.isfinite(float(v)) for v in metrics.values()), metrics
    assert int(new.step) == 1
    params = agent.policy_params(new)
    act = jax.jit(agent.sample, static_argnums=3)(params, obs, jax.random.PRNGKey(5), agent.eval_nfe)
    assert act.shape == (3, ACT) and bool(jnp.all(jnp.abs(act) <= 1.0))
    assert agent.eval_nfe == (cfg.flow_steps if algo == "dpmd" else 1)


def test_td3_steps_its_actor_and_targets_every_second_update_and_smooths_targets():
    cfg = tiny_config("td3")
    agent = make_agent(cfg, OBS, ACT)
    update = jax.jit(agent.update)
    s0 = agent.init(jax.random.PRNGKey(0))
    s1, _ = update(s0, fake_batch(jax.random.PRNGKey(1)), jax.random.PRNGKey(2))
    s2, _ = update(s1, fake_batch(jax.random.PRNGKey(3)), jax.random.PRNGKey(4))
    changed = lambda a, b: any(bool(jnp.any(x != y)) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))  # noqa: E731
    assert changed(s0.actor, s1.actor) and changed(s0.actor_target, s1.actor_target)  # update 0: delayed step
    assert not changed(s1.actor, s2.actor) and not changed(s1.critic.target, s2.critic.target)  # update 1: critic only
    assert changed(s1.critic.params, s2.critic.params)
    obs = jax.random.normal(jax.random.PRNGKey(5), (256, OBS))
    params = agent.policy_params(s2)
    a = agent.sample(params, obs, None)
    noisy = agent.explore(s2, obs, jax.random.PRNGKey(6))
    np.testing.assert_allclose(np.std(np.asarray(noisy - a)[np.abs(np.asarray(a)) < 0.5]), cfg.td3_explore_noise,
                               rtol=0.2)


def test_dpmd_sample_path_ends_at_the_sample_and_rejects_other_nfe():
    cfg = tiny_config("dpmd", flow_steps=5)
    agent = make_agent(cfg, OBS, ACT)
    params = agent.policy_params(agent.init(jax.random.PRNGKey(0)))
    obs, key = jnp.ones((6, OBS)), jax.random.PRNGKey(1)
    path = agent.sample_path(params, obs, key, 5)
    assert path.shape == (6, 6, ACT)
    np.testing.assert_allclose(np.clip(path[-1], -1, 1), agent.sample(params, obs, key, 5), atol=1e-6)
    with pytest.raises(ValueError, match="flow_steps=5"):
        agent.sample(params, obs, key, 1)


def test_dpmd_denoising_loss_learns_a_fixed_action():
    """Oracle: with uniform weights, regressing on a1 = 0.6 makes the chain sample ~0.6."""
    cfg = tiny_config("dpmd", flow_steps=10, hidden_sizes=[32, 32])
    model = ddpm_policy(cfg, ACT)
    params = model.init_params(jax.random.PRNGKey(0), OBS)
    opt = optax.adam(3e-3)
    obs, a1 = jnp.zeros((128, OBS)), jnp.full((128, ACT), 0.6)

    @jax.jit
    def step(carry, key):
        p, o = carry
        g = jax.grad(lambda p: model.loss(p, obs, a1, key).mean())(p)
        u, o = opt.update(g, o)
        return (optax.apply_updates(p, u), o), None

    (params, _), _ = jax.lax.scan(step, (params, opt.init(params)), jax.random.split(jax.random.PRNGKey(1), 1500))
    samples = model.sample(params, obs, jax.random.PRNGKey(2), 10)
    assert abs(float(samples.mean()) - 0.6) < 0.1 and float(samples.std()) < 0.2


def test_bench_inference_smoke_has_every_row(tmp_path):
    out = tmp_path / "bench.json"
    assert bench_inference.main(["--smoke", "--batch-sizes", "1", "8", "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    got = {(r["algo"], r["nfe"], r["batch"]) for r in res["rows"]}
    want = {(a, n, b) for b in (1, 8) for a, n in [("sac", 1), ("dpmd", 20), ("fpmd_r", 1), ("fpmd_r", 20),
                                                   ("fpmd_m", 1)]}
    assert got == want
    sac = {r["batch"]: r["median_ms"] for r in res["rows"] if r["algo"] == "sac"}
    for r in res["rows"]:  # the figures are one measurement each, related as the table says
        assert r["p10_ms"] <= r["median_ms"] <= r["p90_ms"]
        assert r["per_action_ms"] == pytest.approx(r["median_ms"] / r["batch"])
        assert r["ratio_to_sac"] == pytest.approx(r["median_ms"] / sac[r["batch"]])
    assert res["device"]


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory):
    """Tiny trained FPMD-R and DPMD run directories (checkpoints at 64, 96, 128 env steps)."""
    from fpmd_mjx.rundir import save_run_info
    from fpmd_mjx.runner import run

    root = tmp_path_factory.mktemp("runs")
    dirs = {}
    for algo in ("fpmd_r", "dpmd"):
        cfg, out = tiny_config(algo), str(root / algo)
        save_run_info(out, cfg, 1)
        run(cfg, out, progress=False)
        dirs[algo] = out
    return dirs


def _png(path):
    """(height, width) of a written PNG image and whether it holds more than one colour."""
    import matplotlib.image

    img = matplotlib.image.imread(path)
    return img.shape[:2], bool(np.ptp(img[..., :3]) > 0)


def test_plot_trajectories_draws_each_checkpoints_sampling_paths_and_one_step_jumps(tiny_runs, tmp_path):
    early = os.path.join(tiny_runs["fpmd_r"], "checkpoints", "64")
    dirs = plot_trajectories.expand([early, tiny_runs["fpmd_r"], tiny_runs["dpmd"]], all_steps=False)
    assert dirs[0] == early and dirs[1].endswith(os.path.join("fpmd_r", "checkpoints", "128"))
    items = [plot_trajectories.trajectories(d, num_states=1, num_samples=16, steps=None, seed=0) for d in dirs]
    k = tiny_config("fpmd_r").flow_steps
    for it in items:
        assert it["paths"].shape == (1, k + 1, 16, ACT) and np.all(np.isfinite(it["paths"]))
    fpmd, dpmd = items[1], items[2]
    assert (fpmd["algo"], fpmd["env_steps"], dpmd["algo"], dpmd["jumps"]) == ("fpmd_r", 128, "dpmd", None)
    # FPMD-R's one-step jump a0 + v(a0, 0 | s) starts at the Euler path's prior draw and goes
    # the same way as the path's first step, K times as far
    a0 = fpmd["paths"][:, 0]
    np.testing.assert_array_equal(fpmd["jumps"][:, 0], a0)
    np.testing.assert_allclose(fpmd["jumps"][:, 1] - a0, k * (fpmd["paths"][:, 1] - a0), rtol=1e-4, atol=1e-5)
    fig = plot_trajectories.figure(items)
    assert [ax.get_title() for ax in fig.axes] == [f"inverted_pendulum / {a} / {n} env steps" for a, n in
                                                   [("fpmd_r", 64), ("fpmd_r", 128), ("dpmd", 128)]]
    chains = [line.get_ydata() for line in fig.axes[2].get_lines() if len(line.get_ydata()) == k + 1]
    drawn = np.stack(chains, axis=1)  # the 16 DPMD chains (the other lines: the action bounds)
    np.testing.assert_allclose(drawn, dpmd["paths"][0, :, :, 0])
    out = tmp_path / "fig1.png"
    rc = plot_trajectories.main([early, tiny_runs["fpmd_r"], tiny_runs["dpmd"], "--num-samples", "16",
                                 "--out", str(out)])
    assert rc == 0 and _png(out) == ((456, 1440), True)  # 3 panels of 4 x 3.8 in at 120 dpi


def test_plot_curves_draws_each_run_as_a_labelled_line(tiny_runs, tmp_path):
    out = tmp_path / "curves.png"
    assert plot_curves.main([tiny_runs["fpmd_r"], tiny_runs["dpmd"], "--out", str(out)]) == 0
    assert _png(out) == ((504, 768), True)  # 6.4 x 4.2 in at 120 dpi
    run = plot_curves.load_run(tiny_runs["dpmd"])
    steps, returns = run["curves"]["eval_return"]
    assert run["label"] == "inverted_pendulum / dpmd" and returns.shape == (1, len(steps))
    (ax,) = plot_curves.figure([run]).axes
    (line,) = ax.get_lines()
    assert line.get_label() == "inverted_pendulum / dpmd"  # one seed: no band, no seed count
    np.testing.assert_array_equal(line.get_xdata(), steps)
    np.testing.assert_array_equal(line.get_ydata(), returns[0])
    assert not ax.collections


def test_plot_curves_draws_the_mean_over_seeds_and_their_band(tmp_path):
    for k, vals in enumerate([(1.0, 3.0), (3.0, 7.0)]):
        d = tmp_path / "run" / f"seed_{k}"
        d.mkdir(parents=True)
        rows = ["env_steps,eval_return,critic_loss", f"10,{vals[0]},", "15,,0.5", f"20,{vals[1]},"]
        (d / "metrics.csv").write_text("\n".join(rows) + "\n")
    run = plot_curves.load_run(str(tmp_path / "run"))
    np.testing.assert_array_equal(run["curves"]["eval_return"][0], [10, 20])
    assert run["num_seeds"] == 2 and run["label"] == "run"  # no run.json: the directory's name
    for band, bounds in [("minmax", ([1, 3], [3, 7])), ("std", ([1, 3], [3, 7])), ("none", None)]:
        (ax,) = plot_curves.figure([run], band=band).axes
        (line,) = ax.get_lines()
        assert line.get_label() == "run (2 seeds)"
        np.testing.assert_allclose(line.get_ydata(), [2.0, 5.0])  # the mean over seeds
        if bounds is None:
            assert not ax.collections
            continue
        (fill,) = ax.collections  # the band: its outline runs along the low bound and back along the high
        ys = fill.get_paths()[0].vertices[:, 1]
        assert ys.min() == pytest.approx(min(bounds[0])) and ys.max() == pytest.approx(max(bounds[1]))


def test_plot_curves_draws_one_panel_per_metric_from_the_rows_that_log_it(tmp_path, capsys):
    """Training metrics come from the chunk rows, the return from the evaluation rows; a run
    without a metric (SAC has no weight_ess) is left out of that panel; a metric no run logs
    is refused in one line that names the columns there are."""
    fpmd, sac = tmp_path / "fpmd", tmp_path / "sac"
    for d, rows in [(fpmd, ["10,100.0,,", "15,,2.0,0.5", "20,300.0,,", "25,,4.0,0.7"]),
                    (sac, ["10,150.0,,", "15,,3.0,", "20,350.0,,", "25,,5.0,"])]:
        d.mkdir()
        (d / "metrics.csv").write_text("\n".join(["env_steps,eval_return,q_mean,weight_ess"] + rows) + "\n")
    runs = [plot_curves.load_run(str(d), metrics=("eval_return", "q_mean", "weight_ess")) for d in (fpmd, sac)]
    assert set(runs[1]["curves"]) == {"eval_return", "q_mean"}
    axes = plot_curves.figure(runs, metrics=("eval_return", "q_mean", "weight_ess")).axes
    assert [ax.get_ylabel() for ax in axes] == ["MJX eval return", "q_mean", "weight_ess"]
    assert [[list(line.get_xdata()) for line in ax.get_lines()] for ax in axes] == \
        [[[10, 20], [10, 20]], [[15, 25], [15, 25]], [[15, 25]]]
    np.testing.assert_allclose(axes[2].get_lines()[0].get_ydata(), [0.5, 0.7])
    out = tmp_path / "diag.png"
    assert plot_curves.main([str(fpmd), str(sac), "--metrics", "q_mean", "weight_ess", "--out", str(out)]) == 0
    assert _png(out) == ((504, 1536), True)  # two 6.4 x 4.2 in panels side by side at 120 dpi
    assert plot_curves.main([str(fpmd), "--metrics", "q_man", "--out", str(out)]) == 2
    assert capsys.readouterr().err.strip() == ("error: --metrics: no run logs 'q_man'; "
                                               "choose from: eval_return, q_mean, weight_ess")


@pytest.mark.slow
@pytest.mark.skipif(brax_agents_unavailable() is not None, reason="needs the brax-agents extra (jax < 0.9)")
def test_compare_brax_sac_smoke(tmp_path):  # ~5 min on a busy 2-core CPU (four trainings' compiles)
    out = tmp_path / "cmp.json"
    assert compare_brax_sac.main(["--smoke", "--out", str(out)]) == 0
    rows = {r["algo"]: r for r in json.loads(out.read_text())["rows"]}
    assert set(rows) == {"brax_sac", "fpmd_r", "fpmd_m"}
    assert all(r["env_steps"] >= 1000 and np.isfinite(r["final_eval_return"]) for r in rows.values())


@pytest.mark.parametrize("script", [compare_brax_sac, compare_brax_ppo], ids=["compare_brax_sac", "compare_brax_ppo"])
def test_brax_comparisons_need_brax_agents_and_say_so_in_one_line(script, capsys, monkeypatch):
    """brax's training agents call jax.device_put_replicated (gone from jax 0.10): on such a
    jax the comparison scripts stop at once with what to install, exit 2. (A stand-in jax
    module without the function: jax 0.8 still serves it through a deprecation hook, so it
    cannot simply be deleted from the real module.)"""
    import sys
    import types

    monkeypatch.setitem(sys.modules, "jax", types.SimpleNamespace(__version__="0.10.2"))
    assert script.main(["--smoke"]) == 2
    err = capsys.readouterr().err
    assert err == ('error: jax 0.10.2: brax\'s training agents need jax < 0.9 (jax.device_put_replicated); '
                   'install them in a separate venv: pip install -e ".[brax-agents]"\n')


@pytest.mark.slow
@pytest.mark.skipif(brax_agents_unavailable() is not None, reason="needs the brax-agents extra (jax < 0.9)")
def test_compare_brax_ppo_smoke(tmp_path):
    out = tmp_path / "cmp.json"
    assert compare_brax_ppo.main(["--smoke", "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    assert [r["impl"] for r in res["summary"]] == ["brax", "ours"]
    assert all(r["env_steps"] == 1024 and r["final_eval_return"] >= 1 for r in res["runs"])
