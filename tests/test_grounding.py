"""An upsampler learns to follow its input: a tiny level 2 trained on real inputs (the real
lower views of data clips, train.real_inputs=1) goes from ignoring its input (grounding
ratio about 1 against shuffled pairs) to following it."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from conftest import CONFIG_DIR
from hvg_jax import config_lib, runtime, video_ops
from hvg_jax.data import pipeline
from hvg_jax.eval import grounding, real_data
from hvg_jax.layers import sampling_view
from hvg_jax.train import state as state_lib
from hvg_jax.train import step as step_lib

pytestmark = pytest.mark.slow  # trains a level


def tiny_level2(**fields):
  """Demo level 2 at 8 px -> 16 px (4 -> 8 frame windows of an 8-frame video), a few
  channels; real inputs, so it needs no level below."""
  c = config_lib.load_config(CONFIG_DIR / "demo_level2.py", "runlocal")
  c.data.update(resolution=16, raw_resolution=16)
  c.model.input.resolution = 8
  c.model.g.update(ch=8, mults=(2, 1))
  c.model.d.update(ch=8, mults=(1, 2, 4))
  c.train.update(batch_size=8, real_inputs=1.0)
  c.update_from_flattened_dict(fields)
  config_lib.validate(c)
  return c


def grounding_ratio(config, graphdef, state, num: int = 32) -> float:
  """MSE(f_s(f_t(G(z, x_low))), x_low) over the shuffled pairs' MSE, on the real lower
  views of held-out clips (another split), G on the batch's statistics."""
  shapes = config_lib.level_shapes(config)
  g = nnx.merge(graphdef, state).generator
  g = sampling_view(g, standing_stats=False)
  clips, labels = next(real_data.clips(config, split="test", num=num, frames=shapes.train_frames,
                                       seed=0, batch=num))
  high = jnp.asarray(clips, jnp.float32) / 127.5 - 1.0
  low = video_ops.downsample_video(high, shapes.time_factor, shapes.input_resolution)
  out = g(jax.random.normal(jax.random.key(0), (num, config.model.g.z_dim)), low,
          jnp.asarray(labels))
  g = grounding.grounding(np.asarray(out), np.asarray(low), shapes.time_factor)
  return g["mse"] / g["mse_shuffled"]


def train(config, steps: int):
  mesh = runtime.make_mesh()
  graphdef, state = state_lib.initial_state(config, mesh)
  before = grounding_ratio(config, graphdef, state)
  step = step_lib.make_train_step(config, graphdef, mesh)
  batches = pipeline.iterate(pipeline.level_dataset(config, pipeline.get_source(config)), 0,
                             num_threads=2, prefetch=2)
  for _ in range(steps):
    state, _ = step(state, runtime.put_batch(mesh, next(batches)), None)
  return before, grounding_ratio(config, graphdef, state)


def test_an_upsampler_on_real_inputs_learns_to_follow_them():
  """150 steps: the ratio goes from about 0.98 to about 0.33 (0.12 after 300)."""
  before, after = train(tiny_level2(), steps=150)
  assert before > 0.8, before  # untrained: its output has nothing to do with the input
  assert after < 0.5, (before, after)
