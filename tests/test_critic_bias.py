"""The critic-bias study (studies/critic_bias) counts a transition's discounted return only
where it is known: the episode terminated in the data, or its time-limit cut is far enough ahead."""
import importlib.util
import os

import numpy as np
import pytest

from fpmd_mjx.checkpoint import CheckpointError
from fpmd_mjx.rebuild import checkpoint_states

_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "studies", "critic_bias",
                     "critic_bias.py")
_spec = importlib.util.spec_from_file_location("critic_bias", _PATH)
critic_bias = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(critic_bias)


def test_returns_stop_at_a_termination_and_are_unknown_near_a_time_limit_cut():
    # env 0: steps 0-2 end in a termination, steps 3-7 are an episode cut at step 7 (time limit);
    # env 1: one episode over all 8 steps, terminated at the last
    reward = np.ones((8, 2))
    terminated = np.zeros((8, 2))
    terminated[2, 0] = terminated[7, 1] = 1
    cut = np.zeros((8, 2), bool)
    cut[7, 0] = True
    G, known = critic_bias.discounted_returns(reward, terminated, cut, gamma=0.5, horizon=3)
    np.testing.assert_allclose(G[:3, 0], [1.75, 1.5, 1.0])             # 1 + 0.5 + 0.25, stops at the termination
    np.testing.assert_allclose(G[7, 1], 1.0)
    np.testing.assert_allclose(G[0, 1], sum(0.5 ** k for k in range(8)))
    assert known[:3, 0].all() and known[:, 1].all()
    # the cut episode: only the steps at least 3 steps before its cut count
    assert known[3:, 0].tolist() == [True, True, False, False, False]


def test_the_buffers_items_are_read_back_as_interleaved_env_streams():
    E, T = 3, 4
    items = np.arange(T * E, dtype=float)[None, :, None]  # (1, items, 1): flashbax's storage layout
    streams = critic_bias.by_stream(np.concatenate([items, np.zeros((1, 5, 1))], axis=1), 1, T, E)
    assert streams.shape == (T, E, 1)
    assert streams[:, 1, 0].tolist() == [1, 4, 7, 10]  # env 1's steps in time order


def test_the_studies_checkpoint_reader_names_a_directory_without_checkpoints_and_missing_steps(tmp_path):
    with pytest.raises(CheckpointError, match="has no checkpoints/"):
        next(checkpoint_states(str(tmp_path)))
    (tmp_path / "checkpoints").mkdir()
    with pytest.raises(CheckpointError, match="keeps no checkpoint with a training state"):
        next(checkpoint_states(str(tmp_path)))
    for item in ("meta", "policy", "state"):  # a finished save of env step 10000, as checkpoint.py lays it out
        (tmp_path / "checkpoints" / "10000" / item).mkdir(parents=True)
    with pytest.raises(CheckpointError, match=r"no checkpoint at env steps \[5000\].*kept: \[10000\]"):
        next(checkpoint_states(str(tmp_path), [5000]))
