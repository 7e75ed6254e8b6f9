"""Specifications of the typed config: YAML defaults, task blocks, CLI overrides, errors."""
import dataclasses

import pytest

from fpmd_mjx.config import Config, ConfigError, cli_overrides, load_config, load_overlay, parse_overrides


def test_paper_defaults_load_for_both_variants():
    r = load_config("fpmd_r", "Hopper-v4")
    m = load_config("fpmd_m", "hopper")
    assert r.env == m.env == "hopper"
    assert (r.flow_steps, r.eval_flow_steps, m.flow_steps) == (20, 1, 1)
    for c in (r, m):
        assert c.hidden_sizes == (256, 256, 256) and c.activation == "mish"
        assert (c.num_envs, c.updates_per_step, c.warmup_steps) == (5, 1, 30_000)
        assert (c.reward_scale, c.num_particles, c.batch_size, c.weighting) == (0.2, 32, 256, "paper")
    assert load_config("dpmd", "hopper").weighting == "paper"


def test_task_block_overrides_defaults():
    assert load_config("fpmd_r", "humanoid").total_steps == 5_030_000
    assert load_config("fpmd_r", "ant").total_steps == 1_030_000


def test_total_steps_count_the_warm_up_and_updates_count_after_it():
    """The paper's "200K iterations with 1M environment steps" after a 30k-step warm-up."""
    cfg = load_config("fpmd_m", "hopper")
    assert (cfg.total_steps, cfg.warmup_steps, cfg.updates) == (1_030_000, 30_000, 200_000)
    assert cfg.updates_at(30_000) == 0 and cfg.updates_at(30_005) == 1 and cfg.updates_at(1_030_000) == 200_000
    assert cfg.replace(updates_per_step=4).updates == 800_000


def test_each_algorithm_evaluates_by_its_table_1_rule():
    rules = {a: load_config(a, "hopper").eval_rule for a in ("fpmd_r", "fpmd_m", "dpmd", "sac", "td3", "ppo")}
    assert rules == {"fpmd_r": "sample", "fpmd_m": "sample", "dpmd": "best_of_n", "sac": "sample",
                     "td3": "sample", "ppo": "sample"}
    assert load_config("fpmd_r", "hopper").eval_flow_steps == 1


@pytest.mark.parametrize("algo", ["sac", "td3", "ppo"])
def test_best_of_n_is_refused_for_an_algorithm_without_candidates(algo):
    with pytest.raises(ConfigError, match=f"eval_rule best_of_n: algo '{algo}' has no best-of-N rule; valid algos"):
        load_config(algo, "hopper", {"eval_rule": "best_of_n"})


def test_cli_overrides_are_coerced_to_field_types():
    cfg = load_config("fpmd_m", "ant", parse_overrides(["actor_lr=1e-4", "num_envs=64",
                                                         "hidden_sizes=[64, 64]", "lam_follows_alpha=false"]))
    assert cfg.actor_lr == 1e-4 and cfg.num_envs == 64
    assert cfg.hidden_sizes == (64, 64) and cfg.lam_follows_alpha is False


def test_an_overlay_task_block_applies_on_its_task_only_and_the_command_line_wins(tmp_path):
    overlay = tmp_path / "recipe.yaml"
    overlay.write_text("num_envs: 8\nupdates_per_step: 4\ntasks:\n  Hopper-v4:\n    updates_per_step: 8\n"
                       "    batch_size: 128\n")
    over = cli_overrides(str(overlay), ["batch_size=64"], total_steps=50000)
    hopper, cheetah = load_config("sac", "hopper", over), load_config("sac", "half_cheetah", over)
    assert (hopper.num_envs, hopper.updates_per_step, hopper.batch_size) == (8, 8, 64)
    assert (cheetah.num_envs, cheetah.updates_per_step, cheetah.batch_size) == (8, 4, 64)
    assert hopper.total_steps == cheetah.total_steps == 50000


@pytest.mark.parametrize("text, words", [
    ("tasks:\n  hoper:\n    num_envs: 8\n", ["tasks", "hoper", "hopper"]),
    ("tasks: [hopper]\n", ["'tasks' must map task names"]),
])
def test_a_bad_overlay_task_block_is_a_one_line_error(tmp_path, text, words):
    overlay = tmp_path / "recipe.yaml"
    overlay.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_overlay(str(overlay))
    assert "\n" not in str(e.value) and all(w in str(e.value) for w in words), str(e.value)


def test_config_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Config().gamma = 0.5


@pytest.mark.parametrize("overrides, words", [
    ({"lr": "3e-4"}, ["unknown config key 'lr'", "actor_lr"]),
    ({"num_envs": "0"}, ["num_envs must be > 0"]),
    ({"flow_grid_power": "0"}, ["flow_grid_power must be > 0"]),
    ({"num_envs": "two"}, ["bad value 'two' for num_envs"]),
    ({"weighting": "softmax"}, ["unknown weighting 'softmax'", "paper, per_state, authors"]),
    ({"eval_rule": "greedy"}, ["unknown eval_rule 'greedy'", "valid: sample, best_of_n"]),
    ({"gamma": "1.5"}, ["gamma"]),
    ({"physics": "cuda"}, ["unknown physics 'cuda'", "valid: jax, warp"]),
    ({"devices": "3"}, ["devices=3", "multiples"]),
])
def test_bad_overrides_give_one_line_errors_naming_the_value(overrides, words):
    with pytest.raises(ConfigError) as e:
        load_config("fpmd_r", "ant", overrides)
    msg = str(e.value)
    assert "\n" not in msg and all(w in msg for w in words)


def test_unknown_algo_and_task_name_the_valid_choices():
    with pytest.raises(ConfigError, match="valid algos: fpmd_r, fpmd_m"):
        load_config("a2c", "ant")
    with pytest.raises(ConfigError, match="valid tasks: ant"):
        load_config("fpmd_r", "cartpole")


def test_override_without_equals_sign_is_rejected():
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_overrides(["actor_lr"])


def test_config_module_says_which_fields_a_sweep_may_vary_per_run():
    """GRID_FIELDS are floats (traced per run inside one program); loop fields steer the
    Python loop only; every other field splits programs."""
    from fpmd_mjx.config import GRID_FIELDS, LOOP_FIELDS, Config

    cfg = Config()
    assert all(isinstance(getattr(cfg, f), float) for f in GRID_FIELDS)
    assert not set(GRID_FIELDS) & set(LOOP_FIELDS)
    assert {"num_envs", "num_particles", "flow_steps", "hidden_sizes"}.isdisjoint(GRID_FIELDS)
    traced = cfg.traced(lam=2.5)
    assert traced.lam == 2.5 and traced.gamma == cfg.gamma
    with pytest.raises(ConfigError, match="not a grid field"):
        cfg.traced(num_envs=8)
