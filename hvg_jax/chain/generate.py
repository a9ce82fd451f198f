"""Generating with frozen levels: whole videos in chunks, random windows, standing stats.

Frozen generators sample with standing BatchNorm statistics, one (mean, var) per timestep,
so each video is a function of its own noise and input alone. An upsampler is
convolutional in time: output frame t depends on the input frames within its temporal
radius R (one frame per side for each kernel-3 temporal convolution), so a run over input
frames [c, c + L) is exact away from its cut ends, given statistics [c*f, (c+L)*f). Chunks
and windows are cut with that margin and clamped inside the video (its true ends are
zero-padded in a whole run too), which makes them equal to one pass over the whole video.

The same holds while standing statistics are recomputed: BatchNorm statistics are per
frame, so each chunk's interior frames get exactly the statistics a whole pass would.
"""

import math

import jax
import jax.numpy as jnp
from flax import nnx

from hvg_jax.layers import SeparableConv3D, StandingStat, sampling_view, standing_stats_view
from hvg_jax.level import FrozenLevel, stats_frames


def temporal_radius(level: FrozenLevel) -> int:
  """Output frames on each side that an upsampler's output frame depends on."""
  g = nnx.merge(level.graphdef, level.params, level.stats)
  return sum(m.temporal.kernel.shape[0] // 2 for _, m in nnx.iter_modules(g)
             if isinstance(m, SeparableConv3D))


def input_margin(level: FrozenLevel) -> int:
  """Input frames a chunk needs beyond the ones it outputs, on each cut side."""
  return math.ceil(temporal_radius(level) / level.shapes.time_factor)


def chunks(input_frames: int, chunk: int, margin: int) -> tuple[int, list[tuple[int, int, int]]]:
  """(L, [(c, a, b), ...]): run input frames [c, c + L) to output those of inputs [a, b).

  L = min(input_frames, chunk + 2 * margin) is the same for every chunk (one compile).
  """
  length = min(input_frames, chunk + 2 * margin)
  plan = []
  for a in range(0, input_frames, chunk):
    b = min(a + chunk, input_frames)
    plan.append((min(max(a - margin, 0), input_frames - length), a, b))
  return length, plan


def slice_stats(stats: nnx.State, start, length: int) -> nnx.State:
  """Timesteps [start, start + length) of per-timestep statistics (counts kept)."""
  return jax.tree.map(
      lambda s: s if s.ndim == 0 else jax.lax.dynamic_slice_in_dim(s, start, length, 0),
      stats)


def fresh_stats(stats: nnx.State, length: int) -> nnx.State:
  """Empty statistics for ``length`` timesteps, laid out as ``stats``."""
  return jax.tree.map(
      lambda s: jnp.zeros((), s.dtype) if s.ndim == 0 else jnp.zeros((length,) + s.shape[1:],
                                                                      s.dtype), stats)


def generate(level: FrozenLevel, params, stats, z, low, labels):
  """The level's output for the frames ``stats`` cover: level 1 unrolled to that length; an
  upsampler on input ``low`` (whose length it must match)."""
  g = nnx.merge(level.graphdef, params, stats)
  g = sampling_view(g)
  if level.shapes.upsampling:
    return g(z, low, labels)
  return g(z, labels, num_frames=stats_frames(stats))


def continue_level1(level: FrozenLevel, params, stats, z, labels, state):
  """Level 1's next frames (as many as ``stats`` cover) after ``state`` (see
  ``Level1Generator.continued``) and the state after them."""
  g = sampling_view(nnx.merge(level.graphdef, params, stats))
  return g.continued(z, labels, num_frames=stats_frames(stats), state=state)


def level1_start(level: FrozenLevel, z, labels) -> list:
  """The state before level 1's first frame (zeros, as the ConvGRUs start)."""
  shapes = jax.eval_shape(lambda p, s: continue_level1(level, p, s, z, labels, None)[1],
                          level.params, slice_stats(level.stats, 0, 1))
  return [jnp.zeros(s.shape, s.dtype) for s in shapes]


def pad_stats(stats: nnx.State, length: int) -> nnx.State:
  """Per-timestep statistics extended to ``length`` timesteps with copies of the last (for
  a chunk that runs past the end of a causal level-1 video: its extra frames are cut)."""
  return jax.tree.map(
      lambda s: s if s.ndim == 0 or s.shape[0] >= length else jnp.concatenate(
          [s, jnp.repeat(s[-1:], length - s.shape[0], 0)]), stats)


def generate_per_sample(level: FrozenLevel, params, stats, z, low, labels, out_starts):
  """An upsampler on per-sample input runs ``low`` (B, L, ...) that start at output frames
  ``out_starts`` (B,) of videos whose statistics are ``stats``."""
  length = low.shape[1] * level.shapes.time_factor

  def one(z_i, low_i, label_i, start_i):
    stats_i = slice_stats(stats, start_i, length)
    label_i = None if label_i is None else label_i[None]
    return generate(level, params, stats_i, z_i[None], low_i[None], label_i)[0]

  return jax.vmap(one, in_axes=(0, 0, None if labels is None else 0, 0))(
      z, low, labels, out_starts)


def batch_statistics(level: FrozenLevel, params, length: int, z, low, labels) -> nnx.State:
  """The per-frame BatchNorm statistics of one pass over ``length`` output frames."""
  g = nnx.merge(level.graphdef, params, fresh_stats(level.stats, length))
  g = standing_stats_view(g)
  if level.shapes.upsampling:
    g(z, low, labels)
  else:
    g(z, labels, num_frames=length)
  return nnx.state(g, StandingStat)


def level1_statistics(level: FrozenLevel, params, length: int, z, labels, state):
  """(:func:`batch_statistics` of level 1's next ``length`` frames after ``state``, the
  state after them)."""
  g = standing_stats_view(nnx.merge(level.graphdef, params, fresh_stats(level.stats, length)))
  _, state = g.continued(z, labels, num_frames=length, state=state)
  return nnx.state(g, StandingStat), state


def take_windows(video, starts, length: int):
  """video[i, starts[i]:starts[i] + length] for every i."""
  return jax.vmap(lambda v, s: jax.lax.dynamic_slice_in_dim(v, s, length, 0))(video, starts)


def noise(key, levels: list[FrozenLevel], batch: int, sigma: float = 1.0):
  """Independent noise for every level, scaled by ``sigma`` (the papers' truncation)."""
  keys = jax.random.split(key, len(levels))
  return [sigma * jax.random.normal(k, (batch, lv.config.model.g.z_dim))
          for k, lv in zip(keys, levels)]


def windows(levels: list[FrozenLevel], arrays, zs, labels, starts, length: int):
  """x̂^n[i, starts[i]:starts[i] + length] of the top level n of ``levels``, running only
  what the windows need (traceable; each level at the length of its ``arrays`` stats).

  Level 1 runs whole; level k runs on per-sample chunks of its input, each the
  window's frames plus the margin, clamped inside the video.
  """
  top = levels[-1]
  params, stats = arrays[-1]
  if not top.shapes.upsampling:
    return take_windows(generate(top, params, stats, zs[-1], None, labels), starts, length)
  f = top.shapes.time_factor
  input_frames = stats_frames(stats) // f
  margin = input_margin(top)
  chunk_in = min(input_frames, -(-length // f) + 1 + 2 * margin)
  c = jnp.clip(starts // f - margin, 0, input_frames - chunk_in)
  low = windows(levels[:-1], arrays[:-1], zs[:-1], labels, c, chunk_in)
  out = generate_per_sample(top, params, stats, zs[-1], low, labels, c * f)
  return take_windows(out, starts - c * f, length)


class LowerLevels:
  """The frozen levels below a training level, as its step uses them: random windows of
  x̂^{l-1}, ``window`` frames each, drawn uniformly like the real data's windows."""

  def __init__(self, levels: list[FrozenLevel], window: int):
    self.levels = levels
    self.window = window

  @property
  def arrays(self):
    """What the jitted step takes as an argument (every level's params and statistics)."""
    return [lv.arrays for lv in self.levels]

  def __call__(self, arrays, key, labels, batch: int, shard=lambda x: x):
    """(B, window, r, r, 3) in [-1, 1]; ``shard`` places per-sample arrays on devices."""
    k_start, k_z = jax.random.split(key)
    frames = self.levels[-1].stats_frames
    starts = shard(jax.random.randint(k_start, (batch,), 0, frames - self.window + 1))
    zs = [shard(z) for z in noise(k_z, self.levels, batch)]
    return windows(self.levels, arrays, zs, labels, starts, self.window)
