"""Spectral norm and orthogonal initialisation against NumPy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from conftest import np_conv
from hvg_jax.layers import SNConv, SNDense, SNEmbed, power_iteration


def _layers():
  rngs = nnx.Rngs(0)
  return {
      "dense": SNDense(24, 10, rngs=rngs),
      "conv2d": SNConv(5, 7, (3, 3), rngs=rngs),
      "conv3d": SNConv(4, 6, (3, 3, 3), rngs=rngs),
      "conv_wide_out": SNConv(2, 40, (3, 3), rngs=rngs),  # more columns than rows
      "embed": SNEmbed(12, 9, rngs=rngs),
  }


@pytest.mark.parametrize("name", list(_layers()))
def test_orthogonal_init(name):
  layer = _layers()[name]
  w = np.asarray(layer.kernel[...]).reshape(-1, layer.kernel.shape[-1])
  gram = w.T @ w if w.shape[0] >= w.shape[1] else w @ w.T
  np.testing.assert_allclose(gram, np.eye(gram.shape[0]), atol=1e-5)


@pytest.mark.parametrize("name", list(_layers()))
def test_sigma_converges_to_largest_singular_value(name, rng):
  layer = _layers()[name]
  raw = rng.normal(size=layer.kernel.shape).astype(np.float32)
  layer.kernel.set_value(jnp.asarray(raw))
  for _ in range(300):  # one power iteration per training call
    normalized = layer.normalized_kernel()
  matrix = raw.reshape(-1, raw.shape[-1]).astype(np.float64)
  top = np.linalg.svd(matrix, compute_uv=False)[0]
  sigma = raw.reshape(-1)[0] / np.asarray(normalized).reshape(-1)[0]
  np.testing.assert_allclose(sigma, top, rtol=1e-4)
  after = np.linalg.svd(np.asarray(normalized, np.float64).reshape(matrix.shape),
                        compute_uv=False)[0]
  np.testing.assert_allclose(after, 1.0, rtol=1e-4)
  # The parameter keeps the raw weight: W / sigma is a reparametrisation, not a projection.
  np.testing.assert_array_equal(np.asarray(layer.kernel[...]), raw)


def test_u_advances_only_in_training_mode(rng):
  layer = SNDense(6, 4, rngs=nnx.Rngs(1))
  layer.kernel.set_value(jnp.asarray(rng.normal(size=(6, 4)), jnp.float32))
  u0 = np.asarray(layer.u[...])
  layer.normalized_kernel()
  u1 = np.asarray(layer.u[...])
  assert not np.allclose(u0, u1), "a training call runs one power iteration"
  layer.eval()
  a = np.asarray(layer.normalized_kernel())
  b = np.asarray(layer.normalized_kernel())
  np.testing.assert_array_equal(np.asarray(layer.u[...]), u1)
  np.testing.assert_array_equal(a, b)


def test_sigma_gradient_is_the_spectral_norm_gradient(rng):
  """d sigma / dW = u1 v1^T (top singular vectors) once u has converged: u and v are held
  constant, as in Miyato et al."""
  layer = SNDense(5, 3, rngs=nnx.Rngs(2))
  raw = rng.normal(size=(5, 3)).astype(np.float32)
  layer.kernel.set_value(jnp.asarray(raw))
  for _ in range(200):
    layer.normalized_kernel()
  u = layer.u[...]
  grad = jax.grad(lambda w: power_iteration(w, u, 1)[1])(jnp.asarray(raw))
  left, _, right_t = np.linalg.svd(raw.astype(np.float64))
  np.testing.assert_allclose(np.asarray(grad), np.outer(left[:, 0], right_t[0]), atol=1e-4)


def test_conv_runs_every_frame_like_numpy(rng):
  layer = SNConv(3, 4, (3, 3), rngs=nnx.Rngs(3))
  layer.bias.set_value(jnp.asarray(rng.normal(size=4), jnp.float32))
  layer.eval()
  x = rng.normal(size=(2, 3, 5, 6, 3)).astype(np.float32)
  expected = np_conv(x, layer.normalized_kernel(), layer.bias[...])
  np.testing.assert_allclose(np.asarray(layer(x)), expected, atol=1e-5)


def test_embed_and_dense_like_numpy(rng):
  embed = SNEmbed(7, 5, rngs=nnx.Rngs(4))
  embed.eval()
  labels = np.array([3, 0, 6])
  np.testing.assert_allclose(np.asarray(embed(labels)),
                             np.asarray(embed.normalized_kernel())[labels], atol=1e-6)
  dense = SNDense(5, 2, rngs=nnx.Rngs(5))
  dense.eval()
  x = rng.normal(size=(4, 5)).astype(np.float32)
  np.testing.assert_allclose(np.asarray(dense(x)),
                             x @ np.asarray(dense.normalized_kernel()), atol=1e-5)
