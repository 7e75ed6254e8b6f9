"""Task suite specification: every registered task under jit + lax.scan.

Compile budget: ONE jitted program per task (``tests/task_programs.py``: resets
and the parity rollouts), shared with ``tests/test_parity.py``; the VecEnv
bookkeeping (time limit, auto-reset) and bad actions compile cheap tasks only.
"""
import functools

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fpmd_mjx import envs
from fpmd_mjx.envs.gym_reference import make_gym_env
from tests import task_programs

NUM_ENVS, STEPS, LIMIT = 2, 5, 3
GYM_IDS = {"ant": "Ant-v4", "half_cheetah": "HalfCheetah-v4", "hopper": "Hopper-v4",
           "walker2d": "Walker2d-v4", "humanoid": "Humanoid-v4", "swimmer": "Swimmer-v4",
           "reacher": "Reacher-v4", "pusher": "Pusher-v4",
           "inverted_pendulum": "InvertedPendulum-v4",
           "inverted_double_pendulum": "InvertedDoublePendulum-v4"}
OBS_DIMS = {"ant": 27, "half_cheetah": 17, "hopper": 11, "walker2d": 17, "humanoid": 376,
            "swimmer": 8, "reacher": 11, "pusher": 23, "inverted_pendulum": 4,
            "inverted_double_pendulum": 11}


@functools.lru_cache(maxsize=None)
def vec_exercise(name):
    """jitted key -> (reset obs, per-step outputs of a scan of VecEnv.step) with a
    3-step time limit, so every env truncates and auto-resets."""
    env = envs.make(name)
    vec = envs.VecEnv(env, NUM_ENVS, episode_length=LIMIT)

    def run(key):
        k_reset, k_act = jax.random.split(key)
        state = vec.reset(k_reset)
        acts = jax.random.uniform(k_act, (STEPS, NUM_ENVS, env.action_size),
                                  minval=env.action_low, maxval=env.action_high)

        def env_step(s, a):
            s = vec.step(s, a)
            info = s.info
            return s, dict(obs=s.obs, reward=s.reward, done=s.done, final_obs=info["final_obs"],
                           terminated=info["terminated"], truncated=info["truncated"],
                           steps=info["steps"], last_length=info["last_length"],
                           qpos=s.pipeline_state.qpos)

        return state.obs, jax.lax.scan(env_step, state, acts)[1]

    fn = jax.jit(run)
    return {"key0": jax.device_get(fn(jax.random.PRNGKey(0))),
            "key0_again": jax.device_get(fn(jax.random.PRNGKey(0))),
            "key1": jax.device_get(fn(jax.random.PRNGKey(1)))}


@pytest.mark.parametrize("name", envs.names())
def test_task_reset_and_steps_have_gym_shapes_finite_values_and_are_deterministic(name):
    """Every task, one compiled program (shared with tests/test_parity.py)."""
    env = envs.make(name)
    gym_dim = make_gym_env(name).observation_space.shape[0]
    assert env.observation_size == gym_dim == OBS_DIMS[name]
    _, out = task_programs.parity_results(name)
    reset_obs, (obs, reward, done) = out["reset_obs"], out["rollout"]
    assert reset_obs.shape == (3, gym_dim) and reset_obs.dtype == np.float32
    assert obs.shape == (task_programs.STARTS, task_programs.HORIZON, gym_dim)
    assert reward.shape == done.shape == obs.shape[:2]
    for x in (reset_obs, out["reset_qpos"], obs, reward, done):
        assert np.all(np.isfinite(x))
    np.testing.assert_array_equal(reset_obs[0], reset_obs[2])  # same key, same state
    assert not np.allclose(reset_obs[0], reset_obs[1])  # another key, another state


@pytest.mark.parametrize("name", ["inverted_pendulum", "swimmer"])
def test_vec_env_time_limit_autoreset_and_final_obs(name):
    """VecEnv bookkeeping (task-independent; one task that terminates early and
    one that never does, so its episodes end by the time limit alone): truncation apart
    from termination, fresh auto-reset."""
    out = vec_exercise(name)
    obs0, traj = out["key0"]
    assert obs0.shape == (NUM_ENVS, OBS_DIMS[name]) and obs0.dtype == np.float32
    for k, v in traj.items():
        assert np.all(np.isfinite(v)), k
    ended = np.maximum(traj["terminated"], traj["truncated"])
    assert np.all(ended[:LIMIT].max(axis=0) == 1)
    assert np.all(traj["truncated"] * traj["terminated"] == 0)
    np.testing.assert_array_equal(traj["done"], ended)
    at = int(np.argmax(ended[:, 0]))  # first end of env 0: auto-reset to a fresh state
    assert traj["steps"][at, 0] == 0 and traj["last_length"][at, 0] == at + 1
    assert not np.allclose(traj["obs"][at, 0], traj["final_obs"][at, 0])
    for a, b in zip(jax.tree.leaves(out["key0"]), jax.tree.leaves(out["key0_again"])):
        np.testing.assert_array_equal(a, b)
    assert not np.allclose(out["key0"][0], out["key1"][0])


@pytest.mark.parametrize("name", envs.names())
def test_static_attributes(name):
    env = envs.make(name)
    assert env.name == name and env.gym_id == GYM_IDS[name]
    assert isinstance(env.observation_size, int) and isinstance(env.action_size, int)
    assert env.action_low.dtype == np.float32 and env.action_low.shape == (env.action_size,)
    assert np.all(env.action_low < env.action_high)
    assert env.episode_length == {"reacher": 50, "pusher": 100}.get(name, 1000)
    gym_env = make_gym_env(name)
    assert env.dt == pytest.approx(gym_env.unwrapped.dt)
    np.testing.assert_allclose(env.action_low, gym_env.action_space.low)
    if name != "pusher":  # PusherV4 is built directly (no registry spec)
        assert gym_env.spec.max_episode_steps == env.episode_length
    assert env.backend == "mjx"


def test_registry_names_and_aliases():
    assert envs.names() == tuple(OBS_DIMS)
    for name, gym_id in GYM_IDS.items():
        assert envs.canonical_name(gym_id) == name
        assert envs.canonical_name(name.replace("_", "")) == name
        assert envs.canonical_name(name.upper().replace("_", "-")) == name
    assert envs.make("HalfCheetah-v4") is envs.make("halfcheetah")


def test_unknown_name_message():
    with pytest.raises(ValueError) as err:
        envs.make("foo")
    msg = str(err.value)
    assert "\n" not in msg
    assert msg == "unknown task 'foo'; valid tasks: " + ", ".join(envs.names())


@pytest.fixture(scope="module")
def pendulum_step():
    env = envs.make("inverted_pendulum")
    return env, jax.jit(env.reset), jax.jit(env.step)


def test_wrong_action_shape_raises(pendulum_step):
    env, reset, step = pendulum_step
    state = reset(jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match=r"action shape \(2,\) != expected \(1,\)"):
        step(state, jnp.zeros(2))
    vec = envs.VecEnv(env, 2)
    with pytest.raises(ValueError, match="actions shape"):
        jax.eval_shape(vec.step, jax.eval_shape(vec.reset, jax.random.PRNGKey(0)), jnp.zeros((2, 3)))


def test_nonfinite_action_gives_finite_state(pendulum_step):
    env, reset, step = pendulum_step
    state = reset(jax.random.PRNGKey(0))
    for bad in (jnp.array([jnp.nan]), jnp.array([jnp.inf]), jnp.array([1e9])):
        nxt = step(state, bad)
        assert np.all(np.isfinite(nxt.obs)) and np.isfinite(float(nxt.reward))
        assert np.all(np.isfinite(nxt.pipeline_state.qvel))
        assert float(nxt.metrics["nonfinite_action"]) == float(not np.isfinite(bad[0]))
    ok = step(state, jnp.array([0.5]))
    assert float(ok.metrics["nonfinite_action"]) == 0.0


def test_gym_reference_is_v4():
    for name in ("reacher", "pusher"):
        gym_env = make_gym_env(name)
        assert isinstance(gym_env, gymnasium.wrappers.TimeLimit)
        assert gym_env.observation_space.shape == (OBS_DIMS[name],)


def test_physics_profiles_lower_only_the_mjx_newton_cap():
    from fpmd_mjx.envs.base import load_mj_model

    faithful = envs.make("hopper")
    for profile, newton in (("newton4", 4), ("newton2", 2), ("newton1", 1)):
        env = envs.make("hopper", profile=profile)
        assert env.mj_model.opt.iterations == min(newton, faithful.mj_model.opt.iterations)
        assert env.mj_model.opt.ls_iterations == faithful.mj_model.opt.ls_iterations
    assert load_mj_model(envs.spec("hopper")).opt.iterations == 100  # the C reference is never touched
    assert envs.make("hopper", solver_caps=False, profile="newton1").mj_model.opt.iterations == 100
    with pytest.raises(ValueError, match="valid: faithful, newton4"):
        envs.make("hopper", profile="turbo")
