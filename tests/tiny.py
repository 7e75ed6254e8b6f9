"""A tiny InvertedPendulum configuration shared by the trainer tests (compiles fast).

Runs whose configs differ only in the loop fields (``fpmd_mjx.config.LOOP_FIELDS``:
total_steps, eval_every, ...) share one set of compiled programs in the test process,
so keep every other field here and vary only those in tests."""
from fpmd_mjx.config import load_config

TINY = dict(total_steps=128, warmup_steps=64, num_envs=4, chunk_iterations=8, hidden_sizes=[16, 16],
            num_particles=4, flow_steps=2, batch_size=16, buffer_size=512, eval_episodes=16,
            eval_every=32, checkpoint_every=32, time_embed_dim=8)


def tiny_config(algo="fpmd_r", **overrides):
    return load_config(algo, "inverted_pendulum", {**TINY, **overrides})
