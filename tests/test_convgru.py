"""The ConvGRU against DVD-GAN's equations written out in NumPy."""

import numpy as np
from flax import nnx

from conftest import np_conv
from hvg_jax.layers import ConvGRU


def _sigmoid(x):
  return 1.0 / (1.0 + np.exp(-x))


def test_convgru_matches_numpy_equations(rng):
  n_in, f = 3, 4
  gru = ConvGRU(n_in, f, rngs=nnx.Rngs(0))
  for gate in (gru.reset_gate, gru.update_gate, gru.candidate):
    gate.bias.set_value(rng.normal(size=f).astype(np.float32))
  gru.eval()  # fixed spectral-norm vectors: the kernels below are the ones used
  w_r, w_u, w_c = (np.asarray(g.normalized_kernel()) for g in
                   (gru.reset_gate, gru.update_gate, gru.candidate))
  b_r, b_u, b_c = (np.asarray(g.bias[...]) for g in
                   (gru.reset_gate, gru.update_gate, gru.candidate))

  x = rng.normal(size=(2, 4, 5, 6, n_in)).astype(np.float32)
  h = np.zeros((2, 5, 6, f))
  expected = []
  for t in range(x.shape[1]):
    hx = np.concatenate([h, x[:, t]], axis=-1)
    r = _sigmoid(np_conv(hx, w_r, b_r))
    u = _sigmoid(np_conv(hx, w_u, b_u))
    c = np.maximum(np_conv(np.concatenate([x[:, t], r * h], axis=-1), w_c, b_c), 0.0)
    h = u * h + (1.0 - u) * c
    expected.append(h)
  np.testing.assert_allclose(np.asarray(gru(x)), np.stack(expected, axis=1), atol=1e-5)


def test_convgru_unrolls_any_length_and_is_causal(rng):
  gru = ConvGRU(2, 3, rngs=nnx.Rngs(1))
  gru.eval()
  x = rng.normal(size=(1, 9, 4, 4, 2)).astype(np.float32)
  full = np.asarray(gru(x))
  prefix = np.asarray(gru(x[:, :5]))
  assert full.shape == (1, 9, 4, 4, 3)
  np.testing.assert_allclose(full[:, :5], prefix, atol=1e-6)
