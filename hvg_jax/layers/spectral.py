"""Spectrally normalised Dense, Conv (2D/3D) and Embed layers, orthogonally initialised.

The weight is reparametrised as W / sigma(W) at every call (Miyato et al. 2018): the
parameter keeps the raw W, and one power iteration per training call refines the u vector
kept as state. Flax's ``nnx.SpectralNorm`` writes W / sigma back into the parameter at each
call, which turns the reparametrisation into a projection of the weights and changes what
Adam optimises, so the papers' version is implemented here (it is a few lines).
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


def power_iteration(matrix, u, n_steps):
  """Returns (u, sigma) after ``n_steps`` power iterations on ``matrix`` (rows, cols).

  ``u`` lives in the column (output) space; sigma = v . (M u) with v = M u / |M u| is the
  estimate of the largest singular value. u and v are constants to the gradient, so
  d sigma / dM = v u^T (Miyato et al.). With ``n_steps=0`` the stored u is used as is.
  """
  for _ in range(n_steps):
    u = _l2_normalize(matrix.T @ _l2_normalize(matrix @ u))
  u = jax.lax.stop_gradient(u)
  mu = matrix @ u
  return u, jax.lax.stop_gradient(_l2_normalize(mu)) @ mu


class SpectralNormalized(nnx.Module):
  """Holds an orthogonally initialised kernel and the power-iteration vector u.

  The kernel's last axis is its output axis; the other axes are flattened into rows, so
  Dense (in, out), Conv (*window, in, out) and Embed (vocab, features) are all matrices.
  ``use_running_average=False`` (training, set by ``model.train()``) runs one power
  iteration per call and stores u; ``True`` (``model.eval()``) reuses the stored u.
  :mod:`hvg_jax.layers.modes` sets it apart from BatchNorm's flag of the same name.
  """

  def __init__(self, kernel_shape: Sequence[int], *, n_power_iterations: int = 1,
               rngs: nnx.Rngs):
    kernel_shape = tuple(kernel_shape)
    self.kernel = nnx.Param(
        jax.nn.initializers.orthogonal()(rngs.params(), kernel_shape, jnp.float32))
    u = jax.random.normal(rngs.params(), (kernel_shape[-1],), jnp.float32)
    self.u = SpectralVector(_l2_normalize(u))
    self.n_power_iterations = n_power_iterations
    self.use_running_average = False

  def normalized_kernel(self) -> jax.Array:
    """W / sigma(W); in training mode also advances u by the configured iterations."""
    kernel = self.kernel[...]
    matrix = kernel.reshape(-1, kernel.shape[-1])
    steps = 0 if self.use_running_average else self.n_power_iterations
    u, sigma = power_iteration(matrix, self.u[...], steps)
    if steps:
      self.u.set_value(u)
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
