"""The separable 3D convolution is a 3D convolution with the product kernel."""

import jax.numpy as jnp
import numpy as np
from flax import nnx

from conftest import np_conv
from hvg_jax.layers import SeparableConv3D


def test_separable_equals_3d_conv_with_product_kernel(rng):
  sep = SeparableConv3D(3, 5, rngs=nnx.Rngs(0))
  sep.spatial.bias.set_value(jnp.asarray(rng.normal(size=5), jnp.float32))
  sep.eval()
  k_t = np.asarray(sep.temporal.normalized_kernel(), np.float64)  # (3, 1, 1, in, mid)
  k_s = np.asarray(sep.spatial.normalized_kernel(), np.float64)  # (3, 3, mid, out)
  product = np.einsum("tim,hwmo->thwio", k_t[:, 0, 0], k_s)  # (3, 3, 3, in, out)
  x = rng.normal(size=(2, 5, 6, 7, 3)).astype(np.float32)
  expected = np_conv(x, product, sep.spatial.bias[...])
  np.testing.assert_allclose(np.asarray(sep(x)), expected, atol=1e-5)
