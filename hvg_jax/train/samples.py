"""Samples during training: fixed noise (and fixed windows of the lower levels' videos)
through the level's sampling generator, written every ``config.train.sample_every`` steps."""

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from hvg_jax import video_io
from hvg_jax import level as level_lib
from hvg_jax.layers import sampling_view
from hvg_jax.train import state as state_lib
from hvg_jax.train.run import LevelRun


def make_sample_fn(run: LevelRun, graphdef):
  """Jitted ``(state, lower) -> videos in [-1, 1]`` from fixed noise, classes and (for an
  upsampling level) fixed windows of the lower levels' videos; the EMA G if kept.

  BatchNorm uses the sample batch's statistics: standing statistics are only computed
  when the level finishes.
  """
  config, shapes = run.config, run.shapes
  n = config.train.num_samples
  k_z, k_low = jax.random.split(state_lib.keys(config.seed)["samples"])
  z = jax.random.normal(k_z, (n, config.model.g.z_dim))
  labels = jnp.arange(n) % shapes.num_classes if shapes.num_classes else None

  @jax.jit
  def sample(state, lower):
    g = level_lib.sampling_generator(nnx.merge(graphdef, state))
    g = sampling_view(g, standing_stats=False)
    if shapes.upsampling:
      return g(z, run.lower(lower, k_low, labels, n), labels)
    return g(z, labels)

  return sample


def write_samples(run: LevelRun, writer, step: int, videos):
  """The samples of ``step`` as video files in the workdir and a frame strip in
  TensorBoard."""
  videos = video_io.to_uint8(jax.device_get(videos))
  columns = int(np.ceil(np.sqrt(len(videos))))
  video_io.write_video_files(run.dir.samples(step), video_io.grid(videos, columns))
  writer.write_images(step, {"samples": video_io.frame_strip(videos)[None]})
