"""Environments from outside the project's task table: a brax environment of the user's own
through ``make_train(cfg, env=...)`` and the runner, brax's environments by name through the
CLI, and the one-line refusals."""
import csv
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import pytest
from brax.envs.base import Env, State

from fpmd_mjx import gym_eval
from fpmd_mjx.checkpoint import CheckpointError, find_checkpoints, read_meta
from fpmd_mjx.config import ConfigError, load_config
from fpmd_mjx.envs import foreign
from fpmd_mjx.envs.wrappers import scale_action
from fpmd_mjx.rebuild import load_policy
from fpmd_mjx.runner import run
from fpmd_mjx.train import make_train
from scripts import train as train_cli
from tests.tiny import TINY

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN = os.path.join(ROOT, "scripts", "train.py")


class PointMass(Env):
    """A brax environment written here, in plain JAX: a point on a line pushed by a force in
    [-2, 2], paid -|x| per step, 50 steps per episode; no MuJoCo at all."""

    action_low, action_high, episode_length = -2.0, 2.0, 50

    def reset(self, rng):
        x = jax.random.uniform(rng, (), minval=-1.0, maxval=1.0)
        obs = jnp.stack([x, 0.0])
        return State(pipeline_state=None, obs=obs, reward=jnp.zeros(()), done=jnp.zeros(()), metrics={}, info={})

    def step(self, state, action):
        x, v = state.obs
        v = 0.9 * v + 0.05 * action[0]
        x = jnp.clip(x + v, -3.0, 3.0)
        return state.replace(obs=jnp.stack([x, v]), reward=-jnp.abs(x), done=jnp.zeros(()))

    @property
    def observation_size(self):
        return 2

    @property
    def action_size(self):
        return 1

    @property
    def backend(self):
        return "none"


def point_mass_config(**kw):
    return load_config("fpmd_m", "custom:point_mass", {**TINY, **kw})


def test_make_train_trains_fpmd_m_on_a_brax_environment_of_your_own():
    env = PointMass()
    trainer = make_train(point_mass_config(), env=env)
    assert trainer.env.action_low.tolist() == [-2.0] and trainer.env.episode_length == 50  # from the env
    assert scale_action(trainer.env, jnp.array([1.0])).tolist() == [2.0]
    state, metrics = jax.jit(trainer.train)(jax.random.PRNGKey(0))
    assert int(state.iteration) * 4 == 128  # the whole budget (4 envs)
    assert bool(jnp.all(jnp.isfinite(metrics["critic_loss"])))
    ret, length = jax.jit(trainer.evaluate, static_argnums=2)(trainer.eval_params(state.agent),
                                                              jax.random.PRNGKey(1), 1)
    assert ret.shape == (TINY["eval_episodes"],) and bool(jnp.all(length == 50))  # the env's time limit
    assert bool(jnp.all(ret <= 0))


def test_the_configs_action_range_and_time_limit_override_the_environments():
    trainer = make_train(point_mass_config(action_low=-0.5, action_high=0.5, episode_length=20), env=PointMass())
    assert trainer.env.action_high.tolist() == [0.5] and trainer.env.episode_length == 20


def test_a_run_of_your_own_environment_checkpoints_and_rebuilds_with_it(tmp_path):
    cfg, env = point_mass_config(), PointMass()
    res = run(cfg, str(tmp_path), progress=False, env=env)
    assert res.env_steps == 128
    with open(tmp_path / "metrics.csv") as f:
        assert [int(r["env_steps"]) for r in csv.DictReader(f) if r["eval_return"]][-1] == 128
    step = find_checkpoints(str(tmp_path))[0]
    assert read_meta(step)["env"] == "custom:point_mass" and read_meta(step)["gym_id"] is None
    _, trainer, params, _ = load_policy(step, env=env)
    assert trainer.agent.sample(params, jnp.zeros((3, 2)), jax.random.PRNGKey(0), 1).shape == (3, 1)
    with pytest.raises(CheckpointError, match="environment of your own: pass the object"):
        load_policy(step)
    with pytest.raises(gym_eval.EvalError, match="custom:point_mass, which has no Gymnasium counterpart"):
        gym_eval.load_checkpoints(str(tmp_path))


def test_dictionary_observations_are_refused_in_one_line():
    from brax import envs as brax_envs

    with pytest.raises(ValueError, match=r"'brax:fast' has dictionary observations \(state\)"):
        foreign.adapt(brax_envs.get_environment("fast", obs_mode="dict_state"), "brax:fast")


@pytest.mark.parametrize("env, over, words", [
    ("brax:nope", {}, ["unknown brax environment 'nope'", "inverted_pendulum"]),
    ("gym:Hopper", {}, ["expected SOURCE:NAME", "brax, playground, custom"]),
    ("brax:fast", {"physics": "warp"}, ["physics='warp'", "brax:fast steps with its own"]),
    ("hopper", {"episode_length": 100}, ["episode_length applies to environments brought from elsewhere"]),
    ("brax:fast", {"episode_length": 0}, ["episode_length must be >= 1"]),
])
def test_bad_environments_are_one_line_config_errors(env, over, words):
    with pytest.raises(ConfigError) as e:
        load_config("fpmd_m", env, over)
    assert len(str(e.value).splitlines()) == 1 and all(w in str(e.value) for w in words), str(e.value)


def test_playground_without_its_extra_is_a_one_line_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "mujoco_playground", None)  # as if the extra were not installed
    with pytest.raises(ConfigError) as e:
        load_config("fpmd_m", "playground:CartpoleBalance")
    assert str(e.value) == 'playground environments need MuJoCo Playground: pip install -e ".[playground]"'


def test_a_custom_name_without_its_environment_is_a_one_line_error():
    with pytest.raises(ValueError, match="custom:point_mass is an environment of your own"):
        make_train(point_mass_config())


def test_the_cli_trains_a_brax_environment_by_name_and_lists_the_environments(tmp_path, capsys):
    """Training in the CLI's own process; the listing through its ``main`` in this one."""
    out = tmp_path / "fast"
    sets = [f"--set={k}={v}" for k, v in {**TINY, "hidden_sizes": "[16,16]"}.items()]
    p = subprocess.run([sys.executable, TRAIN, "--env", "brax:fast", "--algo", "fpmd_m", "--out", str(out),
                        "--no-progress", *sets], capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert p.returncode == 0, p.stderr[-3000:]
    assert read_meta(find_checkpoints(str(out))[0])["env"] == "brax:fast"
    assert train_cli.main(["--list-envs"]) == 0
    listing = capsys.readouterr().out
    assert "brax:fast" in listing and "inverted_pendulum" in listing
