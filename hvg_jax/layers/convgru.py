"""Convolutional GRU with DVD-GAN's equations (appendix B.2), unrolled with ``lax.scan``.

  r = sigmoid(W_r * [h_{t-1}; x_t] + b_r)
  u = sigmoid(W_u * [h_{t-1}; x_t] + b_u)
  c = relu(W_c * [x_t; r . h_{t-1}] + b_c)
  h_t = u . h_{t-1} + (1 - u) . c

with 3x3 convolutions. A convolution of a channel concatenation is the sum of the
convolutions of its parts, so the x_t halves of all three kernels run once over every frame
in parallel before the scan; only the h-dependent convolutions stay sequential.
"""

import jax
import jax.numpy as jnp
from flax import nnx

from hvg_jax.layers.spectral import SNConv, conv


class ConvGRU(nnx.Module):
  """(B, T, H, W, in_features) -> hidden states (B, T, H, W, features), from h_0 (default
  zeros); the last one is the h_0 that continues the sequence.

  ``unroll`` timesteps per iteration of the scan (``lax.scan``'s): more compiles longer
  and runs faster (a whole 8-frame unroll is 2x faster on CPU).
  """

  def __init__(self, in_features: int, features: int, *, unroll: int = 1,
               dtype=jnp.float32, rngs: nnx.Rngs):
    self.in_features = in_features
    self.features = features
    self.unroll = unroll
    self.dtype = dtype
    both = in_features + features
    # Kernels over [h; x] for the gates and [x; r.h] for the candidate, each spectrally
    # normalised as a whole (the equations' W_r, W_u, W_c).
    self.reset_gate = SNConv(both, features, (3, 3), dtype=dtype, rngs=rngs)
    self.update_gate = SNConv(both, features, (3, 3), dtype=dtype, rngs=rngs)
    self.candidate = SNConv(both, features, (3, 3), dtype=dtype, rngs=rngs)

  def __call__(self, x, h0=None):
    f, n_in = self.features, self.in_features
    w_r = self.reset_gate.normalized_kernel()
    w_u = self.update_gate.normalized_kernel()
    w_c = self.candidate.normalized_kernel()
    w_x = jnp.concatenate([w_r[:, :, f:], w_u[:, :, f:], w_c[:, :, :n_in]], axis=-1)
    b_x = jnp.concatenate(
        [self.reset_gate.bias[...], self.update_gate.bias[...], self.candidate.bias[...]])
    w_h_gates = jnp.concatenate([w_r[:, :, :f], w_u[:, :, :f]], axis=-1)
    w_h_cand = w_c[:, :, n_in:]

    x_parts = conv(x.astype(self.dtype), w_x, b_x)  # (B, T, H, W, 3f), all frames at once
    x_parts = jnp.moveaxis(x_parts, 1, 0)

    def step(h, xt):
      gates = jax.nn.sigmoid(xt[..., :2 * f] + conv(h, w_h_gates))
      r, u = gates[..., :f], gates[..., f:]
      c = jax.nn.relu(xt[..., 2 * f:] + conv(r * h, w_h_cand))
      h = u * h + (1.0 - u) * c
      return h, h

    if h0 is None:
      h0 = jnp.zeros(x.shape[:1] + x.shape[2:4] + (f,), self.dtype)
    _, hs = jax.lax.scan(step, h0, x_parts, unroll=self.unroll)
    return jnp.moveaxis(hs, 0, 1)
