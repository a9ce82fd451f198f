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


def test_u_advances_only_in_training_view(rng):
  layer = SNDense(6, 4, rngs=nnx.Rngs(1))
  layer.kernel.set_value(jnp.asarray(rng.normal(size=(6, 4)), jnp.float32))
  u0 = np.asarray(layer.u[...])
  trained = np.asarray(layer.normalized_kernel())
  u1, v1 = np.asarray(layer.u[...]), np.asarray(layer.v[...])
  assert not np.allclose(u0, u1), "a training call runs one power iteration"
  layer.eval()
  a = np.asarray(layer.normalized_kernel())
  b = np.asarray(layer.normalized_kernel())
  np.testing.assert_array_equal(np.asarray(layer.u[...]), u1)
  np.testing.assert_array_equal(np.asarray(layer.v[...]), v1)
  np.testing.assert_array_equal(a, b)
  # Sampling divides by the last training call's sigma.
  np.testing.assert_allclose(a, trained, rtol=1e-6)


def _algorithm1(kernel, u, steps):
  """Miyato et al.'s Algorithm 1 in NumPy float64, torch's layout: W is (out, rest)."""
  w = np.asarray(kernel, np.float64).reshape(-1, kernel.shape[-1]).T
  u = np.asarray(u, np.float64)
  for _ in range(steps):
    v = w.T @ u
    v /= np.linalg.norm(v)
    u = w @ v
    u /= np.linalg.norm(u)
  return u, v, u @ w @ v


@pytest.mark.parametrize("name", list(_layers()))
def test_sigma_is_algorithm_1_from_an_unconverged_u(name, rng):
  """Early in training (u far from the top singular vector) sigma is u'^T W v' of the
  reference, not |W^T u'| (which agrees only once u has converged)."""
  layer = _layers()[name]
  raw = rng.normal(size=layer.kernel.shape).astype(np.float32)
  layer.kernel.set_value(jnp.asarray(raw))
  u0 = rng.normal(size=raw.shape[-1]).astype(np.float32)
  layer.u.set_value(jnp.asarray(u0 / np.linalg.norm(u0)))
  for step in (1, 2, 3):
    normalized = np.asarray(layer.normalized_kernel(), np.float64)
    u, v, sigma = _algorithm1(raw, u0 / np.linalg.norm(u0), step)
    np.testing.assert_allclose(normalized, raw / sigma, rtol=2e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(layer.u[...]), u, atol=2e-5)
    np.testing.assert_allclose(np.asarray(layer.v[...]), v, atol=2e-5)


def test_sigma_equals_torch_spectral_norm(rng):
  """The same from the reference implementation itself: torch.nn.utils.spectral_norm."""
  import torch  # pylint: disable=import-outside-toplevel (only this test needs it)
  layer = SNDense(9, 5, rngs=nnx.Rngs(7))
  raw = rng.normal(size=(9, 5)).astype(np.float32)
  layer.kernel.set_value(jnp.asarray(raw))
  linear = torch.nn.utils.spectral_norm(torch.nn.Linear(9, 5, bias=False))
  with torch.no_grad():
    linear.weight_orig.copy_(torch.as_tensor(raw.T))
    linear.weight_u.copy_(torch.as_tensor(np.array(layer.u[...])))
  for _ in range(3):
    linear(torch.zeros(1, 9))  # one power iteration per training forward
    ours = np.asarray(layer.normalized_kernel())
    np.testing.assert_allclose(ours, linear.weight.detach().numpy().T, rtol=1e-5, atol=1e-6)


def test_sigma_gradient_is_the_spectral_norm_gradient(rng):
  """d sigma / dW = u1 v1^T (top singular vectors) once u has converged: u and v are held
  constant, as in Miyato et al."""
  layer = SNDense(5, 3, rngs=nnx.Rngs(2))
  raw = rng.normal(size=(5, 3)).astype(np.float32)
  layer.kernel.set_value(jnp.asarray(raw))
  for _ in range(200):
    layer.normalized_kernel()
  u, v = layer.u[...], layer.v[...]
  grad = jax.grad(lambda w: power_iteration(w, u, v, 1)[2])(jnp.asarray(raw))
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
