"""Upsampling generator G_l(z, x^{l-1}, y) (HVG 3 and B.2; SSW-GAN 4).

x^{l-1} is stretched in time to the output length by repeating frames. The trunk is the
level-1 one with each ConvGRU replaced by a separable-3D ResNet block, so it runs in
parallel over time and is convolutional in time: trained on short windows, it applies to
whole videos. After every block whose spatial size is at most x^{l-1}'s, a residual is
added: the stretched x^{l-1}, nearest-downsampled to the block's size, through a 1x1 conv.
Larger blocks get none, so the low-resolution video is never upscaled into the output,
unless ``input_skip`` (a departure, config model.g.input_skip): then the stretched x^{l-1},
upscaled bilinearly, is added to the head's output before its tanh (as artanh of it), and
G's trunk makes only the detail.
"""

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from hvg_jax import video_ops
from hvg_jax.layers import GBlock, SNConv, remat
from hvg_jax.models.generator import LatentStem, RGBHead
from hvg_jax.resolution import generator_upsampling

# input_skip: |x^{l-1}| is clipped below 1 before artanh (2.6 at 0.99: saturated pixels
# stay reachable from the head's output without infinities).
INPUT_SKIP_LIMIT = 0.99


class UpsamplingUnit(nnx.Module):
  """A separable-3D block, then two 2D blocks (the first upsamples), each optionally
  followed by a residual from the low-resolution input.

  Without a ConvGRU, every block output and residual meets only BatchNorm and linear maps
  before the output BatchNorm, so none of them has a bias (see GBlock).
  """

  def __init__(self, in_features: int, features: int, *, resolution_in: int,
               input_resolution: int, upsample: bool, cond_features: int,
               num_frames: int, dtype=jnp.float32, rngs: nnx.Rngs):
    block = dict(cond_features=cond_features, num_frames=num_frames, output_bias=False,
                 dtype=dtype, rngs=rngs)
    self.blocks = nnx.List([
        GBlock(in_features, features, upsample=False, temporal=True, **block),
        GBlock(features, features, upsample=upsample, **block),
        GBlock(features, features, upsample=False, **block),
    ])
    resolution_out = resolution_in * (2 if upsample else 1)
    self.block_resolutions = (resolution_in, resolution_out, resolution_out)
    self.residuals = nnx.List([
        SNConv(3, features, (1, 1), use_bias=False, dtype=dtype, rngs=rngs)
        if r <= input_resolution else None
        for r in self.block_resolutions])

  def __call__(self, h, cond, video_low):
    for block, residual, size in zip(self.blocks, self.residuals, self.block_resolutions):
      h = block(h, cond)
      if residual is not None:
        h = h + residual(video_ops.downsample_nearest(video_low, size))
    return h


class UpsamplingGenerator(nnx.Module):
  """G_l(z, x^{l-1}, y): (B, T, r, r, 3) -> (B, T * time_factor, R, R, 3) in [-1, 1].

  ``num_frames`` is the training output length (it sizes the standing BatchNorm
  statistics); a call takes an input of any length. ``remat``: recompute each unit's
  activations in the backward pass (config model.remat). ``input_skip``: see the module.
  """

  def __init__(self, *, resolution: int, input_resolution: int, time_factor: int,
               num_frames: int, ch: int, mults: Sequence[int], z_dim: int = 128,
               num_classes: int = 0, embed_dim: int = 128, remat: bool = False,
               input_skip: bool = False, dtype=jnp.float32, rngs: nnx.Rngs):
    self.remat = remat
    self.input_skip = input_skip
    self.resolution = resolution
    self.input_resolution = input_resolution
    self.time_factor = time_factor
    self.num_frames = num_frames
    widths = [ch * m for m in mults]
    self.stem = LatentStem(z_dim=z_dim, num_classes=num_classes, embed_dim=embed_dim,
                           features=widths[0], dtype=dtype, rngs=rngs)
    ups = generator_upsampling(len(widths), resolution, keep_unit=None)
    units, r = [], 4
    for w_in, w, up in zip([widths[0]] + widths[:-1], widths, ups):
      units.append(UpsamplingUnit(
          w_in, w, resolution_in=r, input_resolution=input_resolution, upsample=up,
          cond_features=self.stem.cond_features, num_frames=num_frames, dtype=dtype,
          rngs=rngs))
      r = r * 2 if up else r
    self.units = nnx.List(units)
    self.head = RGBHead(widths[-1], num_frames=num_frames, dtype=dtype, rngs=rngs)

  def __call__(self, z, video_low, labels=None):
    if video_low.shape[2:] != (self.input_resolution, self.input_resolution, 3):
      raise ValueError(
          f"the low-resolution input must be (B, T, {self.input_resolution}, "
          f"{self.input_resolution}, 3), got {video_low.shape}")
    video_low = video_ops.repeat_frames(video_low, self.time_factor)
    cond, h = self.stem(z, labels, video_low.shape[1])
    for unit in self.units:
      h = remat.call(unit, h, cond, video_low, enabled=self.remat)
    offset = None
    if self.input_skip:
      up = jax.image.resize(video_low.astype(jnp.float32),
                            h.shape[:-1] + (3,), "bilinear")
      offset = jnp.arctanh(jnp.clip(up, -INPUT_SKIP_LIMIT, INPUT_SKIP_LIMIT))
    return self.head(h, offset)
