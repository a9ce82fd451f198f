"""Separable 3D convolution: a temporal convolution (kernel 3) then a spatial 3x3 one.

The upsampling generators use it in place of the ConvGRU (HVG B.2): it runs in parallel over
time and keeps the generator convolutional in time, so it applies to any video length. The
temporal half has no bias, which makes the pair exactly a 3D convolution whose kernel is the
product of the two (plus the spatial bias), zero padding included.
"""

import jax.numpy as jnp
from flax import nnx

from hvg_jax.layers.spectral import SNConv


class SeparableConv3D(nnx.Module):
  """(B, T, H, W, in_features) -> (B, T, H, W, features), 'SAME' padding in all axes."""

  def __init__(self, in_features: int, features: int, *, temporal_kernel: int = 3,
               use_bias: bool = True, dtype=jnp.float32, rngs: nnx.Rngs):
    self.temporal = SNConv(in_features, features, (temporal_kernel, 1, 1), use_bias=False,
                           dtype=dtype, rngs=rngs)
    self.spatial = SNConv(features, features, (3, 3), use_bias=use_bias, dtype=dtype,
                          rngs=rngs)

  def __call__(self, x):
    return self.spatial(self.temporal(x))
