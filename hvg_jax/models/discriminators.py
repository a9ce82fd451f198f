"""The spatial, temporal and matching discriminators (DVD-GAN 3.1 and B.2; HVG B.1-B.2).

All three share one trunk: BigGAN ResNet blocks without normalisation, the first
``num_3d_blocks`` with 3x3x3 convolutions and the rest per frame, then a projection head
giving one score per frame and video.
- D_S judges k frames drawn at random per video, at full resolution.
- D_T judges the whole video after 2x2 average pooling; its first two blocks are 3D.
- D_M is D_T's architecture on concat_channels(x^{l-1}, f_s(f_t(x^l))): whether the output
  is a valid upsampling of the input. Its input is already at x^{l-1}'s (lower)
  resolution, so it skips D_T's 2x2 pooling by default (``matching_pool``).
"""

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from hvg_jax import video_ops
from hvg_jax.layers import DBlock, ProjectionHead, remat
from hvg_jax.layers.blocks import avg_pool_2x
from hvg_jax.resolution import discriminator_downsampling


class VideoDiscriminator(nnx.Module):
  """ResNet discriminator trunk: (B, T, R, R, C) [, labels] -> (B, T') per-frame scores.

  ``temporal_downsample`` also halves time in the 3D blocks that downsample (the papers
  do not say; off by default, so the scores stay one per input frame). ``remat``:
  recompute each block's activations in the backward pass (config model.remat).
  """

  def __init__(self, *, resolution: int, ch: int, mults: Sequence[int], in_features: int = 3,
               num_3d_blocks: int = 0, num_classes: int = 0,
               temporal_downsample: bool = False, remat: bool = False, dtype=jnp.float32,
               rngs: nnx.Rngs):
    self.remat = remat
    self.resolution = resolution
    self.in_features = in_features
    widths = [ch * m for m in mults]
    downs = discriminator_downsampling(len(widths), resolution)
    self.blocks = nnx.List([
        DBlock(w_in, w, downsample=down, preactivation=i > 0, three_d=i < num_3d_blocks,
               temporal_downsample=temporal_downsample, dtype=dtype, rngs=rngs)
        for i, (w_in, w, down) in enumerate(zip([in_features] + widths[:-1], widths, downs))])
    self.head = ProjectionHead(widths[-1], num_classes=num_classes, dtype=dtype, rngs=rngs)

  def __call__(self, video, labels=None):
    expected = (self.resolution, self.resolution, self.in_features)
    if video.ndim != 5 or video.shape[2:] != expected:
      raise ValueError(f"discriminator input must be (B, T, {expected[0]}, {expected[1]}, "
                       f"{expected[2]}), got {video.shape}")
    h = video
    for block in self.blocks:
      h = remat.call(block, h, enabled=self.remat)
    return self.head(h, labels)


def select_frames(video, k: int, key):
  """k distinct frames of every video, drawn uniformly: ((B, k, H, W, C), (B, k) indices)."""
  b, t = video.shape[:2]
  idx = jnp.argsort(jax.random.uniform(key, (b, t)), axis=1)[:, :k]
  return jnp.take_along_axis(video, idx[:, :, None, None, None], axis=1), idx


class SpatialDiscriminator(nnx.Module):
  """D_S: one score per each of k random full-resolution frames -> (B, k).

  A video shorter than k frames (the 3-frame-window ablation outputs 6) has all its frames
  judged.
  """

  def __init__(self, *, resolution: int, ch: int, mults: Sequence[int], num_classes: int = 0,
               k: int = 8, remat: bool = False, dtype=jnp.float32, rngs: nnx.Rngs):
    self.k = k
    self.net = VideoDiscriminator(resolution=resolution, ch=ch, mults=mults,
                                  num_classes=num_classes, remat=remat, dtype=dtype, rngs=rngs)

  def __call__(self, video, labels=None, *, key):
    frames, _ = select_frames(video, min(self.k, video.shape[1]), key)
    return self.net(frames, labels)


class TemporalDiscriminator(nnx.Module):
  """D_T: the whole video after 2x2 average pooling -> (B, T) scores."""

  def __init__(self, *, resolution: int, ch: int, mults: Sequence[int], num_classes: int = 0,
               num_3d_blocks: int = 2, temporal_downsample: bool = False,
               remat: bool = False, dtype=jnp.float32, rngs: nnx.Rngs):
    self.net = VideoDiscriminator(
        resolution=resolution // 2, ch=ch, mults=mults, num_3d_blocks=num_3d_blocks,
        num_classes=num_classes, temporal_downsample=temporal_downsample, remat=remat,
        dtype=dtype, rngs=rngs)

  def __call__(self, video, labels=None):
    return self.net(avg_pool_2x(video), labels)


class MatchingDiscriminator(nnx.Module):
  """D_M: is x^l a valid upsampling of x^{l-1}? -> (B, T_low) scores.

  Judges concat_channels(x^{l-1}, f_s(f_t(x^l))), with f_t keeping every
  ``time_factor``-th frame and f_s resizing bilinearly to x^{l-1}'s resolution.
  """

  def __init__(self, *, input_resolution: int, time_factor: int, ch: int,
               mults: Sequence[int], num_classes: int = 0, num_3d_blocks: int = 2,
               pool: bool = False, temporal_downsample: bool = False,
               remat: bool = False, dtype=jnp.float32, rngs: nnx.Rngs):
    self.input_resolution = input_resolution
    self.time_factor = time_factor
    self.pool = pool
    self.net = VideoDiscriminator(
        resolution=input_resolution // 2 if pool else input_resolution, ch=ch, mults=mults,
        in_features=6, num_3d_blocks=num_3d_blocks, num_classes=num_classes,
        temporal_downsample=temporal_downsample, remat=remat, dtype=dtype, rngs=rngs)

  def __call__(self, video, video_low, labels=None):
    down = video_ops.downsample_video(video, self.time_factor, self.input_resolution)
    if down.shape != video_low.shape:
      raise ValueError(f"matching pair does not line up: f_s(f_t(x^l)) has shape "
                       f"{down.shape}, x^(l-1) has {video_low.shape}")
    pair = jnp.concatenate([video_low.astype(down.dtype), down], axis=-1)
    return self.net(avg_pool_2x(pair) if self.pool else pair, labels)
