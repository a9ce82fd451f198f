"""BigGAN-style residual blocks on videos (B, T, H, W, C).

Generator block: cBN-ReLU-[nearest 2x up]-conv-cBN-ReLU-conv, plus an (upsampled) 1x1
shortcut when the shape changes. ``temporal=False`` uses 3x3 convolutions on every frame
(the 2D block); ``temporal=True`` uses separable 3D convolutions (the upsamplers' 3D block).

Discriminator block: [ReLU]-conv-ReLU-conv-[2x2 average pool], no normalisation, with a
1x1 shortcut when the shape changes; 3x3 per frame (2D) or 3x3x3 (3D).
"""

import jax
import jax.numpy as jnp
from flax import nnx

from hvg_jax.layers.norm import FrameBatchNorm
from hvg_jax.layers.separable import SeparableConv3D
from hvg_jax.layers.spectral import SNConv


def upsample_nearest_2x(x):
  """Nearest-neighbour 2x spatial upsampling of (..., H, W, C)."""
  return jnp.repeat(jnp.repeat(x, 2, axis=-3), 2, axis=-2)


def avg_pool_2x(x, time: bool = False):
  """2x2 spatial (and optionally 2-frame temporal) average pooling of (B, T, H, W, C)."""
  if time and x.shape[1] % 2:
    raise ValueError(f"cannot halve {x.shape[1]} frames in time: the discriminator's "
                     "temporal downsampling needs an even number of frames")
  window = (2, 2, 2) if time else (1, 2, 2)
  return nnx.avg_pool(x, window, strides=window)


class GBlock(nnx.Module):
  """Generator residual block; the condition feeds every conditional BatchNorm.

  Biases that BatchNorm would cancel are left out, since their gradient is exactly zero
  and Adam would only turn rounding noise into steps: conv1's (bn2 follows), and with
  ``output_bias=False`` conv2's and the shortcut's, for blocks whose output meets only
  BatchNorm and linear maps on its way to the next BatchNorm (a per-channel constant
  there is removed).
  """

  def __init__(self, in_features: int, features: int, *, cond_features: int,
               num_frames: int, upsample: bool, temporal: bool = False,
               output_bias: bool = True, dtype=jnp.float32, rngs: nnx.Rngs):
    self.upsample = upsample
    norm = dict(num_frames=num_frames, cond_features=cond_features, dtype=dtype, rngs=rngs)
    self.bn1 = FrameBatchNorm(in_features, **norm)
    self.bn2 = FrameBatchNorm(features, **norm)
    conv = dict(dtype=dtype, rngs=rngs)
    if temporal:
      self.conv1 = SeparableConv3D(in_features, features, use_bias=False, **conv)
      self.conv2 = SeparableConv3D(features, features, use_bias=output_bias, **conv)
    else:
      self.conv1 = SNConv(in_features, features, (3, 3), use_bias=False, **conv)
      self.conv2 = SNConv(features, features, (3, 3), use_bias=output_bias, **conv)
    self.shortcut = (SNConv(in_features, features, (1, 1), use_bias=output_bias, **conv)
                     if in_features != features or upsample else None)

  def __call__(self, x, cond):
    h = jax.nn.relu(self.bn1(x, cond))
    if self.upsample:
      h = upsample_nearest_2x(h)
      x = upsample_nearest_2x(x)
    h = self.conv1(h)
    h = self.conv2(jax.nn.relu(self.bn2(h, cond)))
    if self.shortcut is not None:
      x = self.shortcut(x)
    return x + h


class DBlock(nnx.Module):
  """Discriminator residual block.

  ``preactivation=False`` for a network's first block: its input is the image itself,
  whose negative half a ReLU would discard (BigGAN's first D block does the same).
  """

  def __init__(self, in_features: int, features: int, *, downsample: bool,
               preactivation: bool = True, three_d: bool = False,
               temporal_downsample: bool = False, dtype=jnp.float32, rngs: nnx.Rngs):
    self.downsample = downsample
    self.preactivation = preactivation
    self.temporal_downsample = temporal_downsample and three_d and downsample
    window = (3, 3, 3) if three_d else (3, 3)
    self.conv1 = SNConv(in_features, features, window, dtype=dtype, rngs=rngs)
    self.conv2 = SNConv(features, features, window, dtype=dtype, rngs=rngs)
    self.shortcut = (SNConv(in_features, features, (1, 1), dtype=dtype, rngs=rngs)
                     if in_features != features or downsample else None)

  def __call__(self, x):
    h = jax.nn.relu(x) if self.preactivation else x
    h = self.conv2(jax.nn.relu(self.conv1(h)))
    if self.shortcut is not None:
      x = self.shortcut(x)  # a 1x1 conv commutes with average pooling
    if self.downsample:
      h = avg_pool_2x(h, self.temporal_downsample)
      x = avg_pool_2x(x, self.temporal_downsample)
    return x + h
