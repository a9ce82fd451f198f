"""TensorFlow 1's ``tf.image.resize_bilinear`` (align_corners=False,
half_pixel_centers=False), which the reference FVD code applies to every frame.

Output pixel i samples the input at i * in/out (no half-pixel offset): the last rows and
columns of a downscaled image are never read, unlike jax.image.resize. FVD numbers are
only comparable with this exact interpolation.
"""

import jax.numpy as jnp


def _axis_weights(size_in: int, size_out: int):
  scale = size_in / size_out
  src = jnp.arange(size_out) * scale
  lo = jnp.floor(src).astype(jnp.int32)
  hi = jnp.minimum(lo + 1, size_in - 1)
  return lo, hi, (src - lo).astype(jnp.float32)


def resize_bilinear_tf1(images, height: int, width: int):
  """(..., H, W, C) -> (..., height, width, C) in float32."""
  x = jnp.asarray(images, jnp.float32)
  top, bottom, fy = _axis_weights(x.shape[-3], height)
  left, right, fx = _axis_weights(x.shape[-2], width)
  rows = (jnp.take(x, top, axis=-3) * (1 - fy)[:, None, None]
          + jnp.take(x, bottom, axis=-3) * fy[:, None, None])
  return (jnp.take(rows, left, axis=-2) * (1 - fx)[:, None]
          + jnp.take(rows, right, axis=-2) * fx[:, None])
