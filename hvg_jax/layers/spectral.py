"""Spectrally normalised Dense, Conv (2D/3D) and Embed layers, orthogonally initialised.

The weight is reparametrised as W / sigma(W) at every call (Miyato et al. 2018): the
parameter keeps the raw W, and one power iteration per training call refines the u and v
vectors kept as state (Algorithm 1, as ``torch.nn.utils.spectral_norm`` computes it).
Flax's ``nnx.SpectralNorm`` writes W / sigma back into the parameter at each call, which
turns the reparametrisation into a projection of the weights and changes what Adam
optimises, so the papers' version is implemented here (it is a few lines).
"""

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax import nnx

_EPS = 1e-12


def _l2_normalize(x):
  return x * jax.lax.rsqrt(jnp.maximum(jnp.sum(x * x), _EPS * _EPS))


class SpectralVector(nnx.BatchStat):
  """The power iteration's u vector: state, not a parameter, and not a BatchNorm
  statistic (filters can tell them apart)."""


def power_iteration(matrix, u, v, n_steps):
  """Returns (u, v, sigma): Miyato et al.'s Algorithm 1 on ``matrix`` (rows, cols).

  ``u`` lives in the column (output) space and ``v`` in the row space, as in
  ``torch.nn.utils.spectral_norm`` and BigGAN with W = matrix^T: each step takes
  v' = M u / |M u| from the previous u, then u' = M^T v' / |M^T v'|, and
  sigma = v'^T M u'. u and v are constants to the gradient, so d sigma / dM = v u^T. With
  ``n_steps=0`` the stored u and v are used as they are (sampling: the last training
  call's sigma exactly).
  """
  for _ in range(n_steps):
    v = _l2_normalize(matrix @ u)
    u = _l2_normalize(matrix.T @ v)
  u, v = jax.lax.stop_gradient(u), jax.lax.stop_gradient(v)
  return u, v, v @ (matrix @ u)


class SpectralNormalized(nnx.Module):
  """Holds an orthogonally initialised kernel and the power-iteration vectors u and v.

  The kernel's last axis is its output axis; the other axes are flattened into rows, so
  Dense (in, out), Conv (*window, in, out) and Embed (vocab, features) are all matrices.
  In training (the default) each call runs the power iteration and stores u and v; the
  views of :mod:`hvg_jax.layers.modes` (``set_view(power_iteration=False)``) reuse them.
  """

  def __init__(self, kernel_shape: Sequence[int], *, n_power_iterations: int = 1,
               rngs: nnx.Rngs):
    kernel_shape = tuple(kernel_shape)
    kernel = jax.nn.initializers.orthogonal()(rngs.params(), kernel_shape, jnp.float32)
    self.kernel = nnx.Param(kernel)
    u = _l2_normalize(jax.random.normal(rngs.params(), (kernel_shape[-1],), jnp.float32))
    self.u = SpectralVector(u)
    # v matches u, so sampling before any training call divides by |W u| as well.
    self.v = SpectralVector(_l2_normalize(kernel.reshape(-1, kernel_shape[-1]) @ u))
    self.n_power_iterations = n_power_iterations
    self.use_running_average = False

  def set_view(self, power_iteration: bool | None = None):
    """For ``nnx.view``: ``power_iteration=False`` freezes u and v (sampling)."""
    if power_iteration is not None:
      self.use_running_average = not power_iteration

  def normalized_kernel(self) -> jax.Array:
    """W / sigma(W); in training mode also advances u and v by the configured iterations."""
    kernel = self.kernel[...]
    matrix = kernel.reshape(-1, kernel.shape[-1])
    steps = 0 if self.use_running_average else self.n_power_iterations
    u, v, sigma = power_iteration(matrix, self.u[...], self.v[...], steps)
    if steps:
      self.u.set_value(u)
      self.v.set_value(v)
    return kernel / jnp.where(sigma > 0, sigma, 1.0)  # an all-zero kernel stays zero


class SNDense(SpectralNormalized):
  """Spectrally normalised linear layer."""

  def __init__(self, in_features: int, out_features: int, *, use_bias: bool = True,
               dtype=jnp.float32, rngs: nnx.Rngs):
    super().__init__((in_features, out_features), rngs=rngs)
    self.bias = nnx.Param(jnp.zeros((out_features,))) if use_bias else None
    self.dtype = dtype

  def __call__(self, x):
    y = jnp.dot(x.astype(self.dtype), self.normalized_kernel().astype(self.dtype))
    if self.bias is not None:
      y = y + self.bias[...].astype(self.dtype)
    return y


def conv(x, kernel, bias=None):
  """Stride-1 'SAME' convolution, channels last, over the kernel's leading window axes.

  A 2D kernel applied to a (B, T, H, W, C) video runs on every frame independently.
  """
  window = kernel.ndim - 2
  batch_shape = x.shape[:x.ndim - window - 1]
  x = x.reshape((-1,) + x.shape[len(batch_shape):])
  spatial = "DHW"[-window:]
  y = jax.lax.conv_general_dilated(
      x, kernel.astype(x.dtype), window_strides=(1,) * window, padding="SAME",
      dimension_numbers=(f"N{spatial}C", f"{spatial}IO", f"N{spatial}C"))
  if bias is not None:
    y = y + bias.astype(y.dtype)
  return y.reshape(batch_shape + y.shape[1:])


class SNConv(SpectralNormalized):
  """Spectrally normalised convolution; ``kernel_size`` of length 2 (per frame) or 3."""

  def __init__(self, in_features: int, out_features: int, kernel_size: Sequence[int], *,
               use_bias: bool = True, dtype=jnp.float32, rngs: nnx.Rngs):
    super().__init__(tuple(kernel_size) + (in_features, out_features), rngs=rngs)
    self.bias = nnx.Param(jnp.zeros((out_features,))) if use_bias else None
    self.dtype = dtype

  def __call__(self, x):
    bias = None if self.bias is None else self.bias[...]
    return conv(x.astype(self.dtype), self.normalized_kernel(), bias)


class SNEmbed(SpectralNormalized):
  """Spectrally normalised class embedding (the projection discriminator's)."""

  def __init__(self, num_embeddings: int, features: int, *, dtype=jnp.float32,
               rngs: nnx.Rngs):
    super().__init__((num_embeddings, features), rngs=rngs)
    self.dtype = dtype

  def __call__(self, labels):
    return jnp.take(self.normalized_kernel(), labels, axis=0).astype(self.dtype)
