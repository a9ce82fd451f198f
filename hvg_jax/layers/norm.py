"""BatchNorm with per-frame statistics, conditional (class/noise) or plain affine.

Statistics are taken over batch, height and width separately for every frame, never over
time (DVD-GAN B.2: otherwise G could pass information between frames through BatchNorm).
Under ``jit`` with the batch sharded over devices the means are global: synchronised
BatchNorm with no axis names.

Three modes, set as attributes (``model.train()`` / ``model.eval()`` toggle the first;
:mod:`hvg_jax.layers.modes` sets them for a whole model):
- ``use_running_average=False``: normalise with the batch's per-frame statistics;
- ``use_running_average=True``: use the stored per-timestep standing statistics;
- ``accumulate_standing_stats=True`` (with batch statistics): also fold this batch's
  statistics into the standing ones as a running average over calls (BigGAN's "standing
  statistics", the papers' 200 dummy passes before sampling an unrolled length).
"""

import jax
import jax.numpy as jnp
from flax import nnx

from hvg_jax.layers.spectral import SNDense


class StandingStat(nnx.BatchStat):
  """The per-timestep standing statistics (and their pass count) of a FrameBatchNorm.

  A type of its own so that they can be split from the spectral-norm vectors (also
  BatchStats) and sliced, resized or recomputed for another length.
  """


class FrameBatchNorm(nnx.Module):
  """Per-frame BatchNorm on (B, T, H, W, C) without its own affine.

  With ``cond_features`` the gain and bias are linear functions of a condition vector
  (conditional BN: gain = 1 + W_g c, bias = W_b c, spectrally normalised as in BigGAN's
  G); without it they are plain learned per-channel parameters (the output layer).
  ``num_frames`` sizes the standing statistics; :meth:`reset_standing_stats` resizes them
  for another unrolled length.
  """

  def __init__(self, features: int, *, num_frames: int, cond_features: int | None = None,
               epsilon: float = 1e-5, dtype=jnp.float32, rngs: nnx.Rngs):
    self.features = features
    self.epsilon = epsilon
    self.dtype = dtype
    if cond_features:
      self.gain = SNDense(cond_features, features, use_bias=False, rngs=rngs)
      self.offset = SNDense(cond_features, features, use_bias=False, rngs=rngs)
      self.scale = self.bias = None
    else:
      self.gain = self.offset = None
      self.scale = nnx.Param(jnp.ones((features,)))
      self.bias = nnx.Param(jnp.zeros((features,)))
    self.mean = StandingStat(jnp.zeros((num_frames, features)))
    self.var = StandingStat(jnp.ones((num_frames, features)))
    self.count = StandingStat(jnp.zeros((), jnp.int32))
    self.use_running_average = False
    self.accumulate_standing_stats = False

  def set_view(self, standing_stats: bool | None = None,
               accumulate_standing_stats: bool | None = None):
    """For ``nnx.view``: normalise with the standing statistics (or the batch's), and fold
    the batch's into the standing ones."""
    if standing_stats is not None:
      self.use_running_average = standing_stats
    if accumulate_standing_stats is not None:
      self.accumulate_standing_stats = accumulate_standing_stats

  def reset_standing_stats(self, num_frames: int):
    """Empties the standing statistics and sizes them for ``num_frames`` timesteps."""
    self.mean.set_value(jnp.zeros((num_frames, self.features)))
    self.var.set_value(jnp.ones((num_frames, self.features)))
    self.count.set_value(jnp.zeros((), jnp.int32))

  def __call__(self, x, cond=None):
    if x.ndim != 5:
      raise ValueError(f"FrameBatchNorm expects (B, T, H, W, C), got shape {x.shape}")
    x32 = x.astype(jnp.float32)
    if self.use_running_average:
      if self.mean.shape[0] != x.shape[1]:
        raise ValueError(
            f"standing statistics hold {self.mean.shape[0]} timesteps but the input has "
            f"{x.shape[1]} frames: recompute them for this length "
            "(reset_standing_stats, then dummy passes with accumulate_standing_stats).")
      count = self.count[...]
      if not isinstance(count, jax.core.Tracer) and int(count) == 0:
        raise ValueError(
            "standing statistics are empty: run dummy passes in standing_stats_view "
            "(hvg_jax.layers.modes) before sampling with them, or sample on batch "
            "statistics (sampling_view(model, standing_stats=False)).")
      mean, var = self.mean[...], self.var[...]
    else:
      mean = jnp.mean(x32, axis=(0, 2, 3))
      var = jnp.mean(jnp.square(x32 - mean[None, :, None, None]), axis=(0, 2, 3))
      if self.accumulate_standing_stats:
        self._accumulate(mean, var)
    y = (x32 - mean[None, :, None, None]) * jax.lax.rsqrt(var + self.epsilon)[None, :, None, None]
    if self.gain is not None:
      if cond is None:
        raise ValueError("conditional FrameBatchNorm needs a condition vector")
      gain = 1.0 + self.gain(cond).astype(jnp.float32)
      offset = self.offset(cond).astype(jnp.float32)
      y = y * gain[:, None, None, None] + offset[:, None, None, None]
    else:
      y = y * self.scale[...] + self.bias[...]
    return y.astype(self.dtype)

  def _accumulate(self, mean, var):
    if self.mean.shape[0] != mean.shape[0]:
      raise ValueError(
          f"standing statistics are sized for {self.mean.shape[0]} timesteps, the batch "
          f"has {mean.shape[0]}: call reset_standing_stats({mean.shape[0]}) first.")
    count = self.count[...]
    weight = 1.0 / (count + 1).astype(jnp.float32)
    self.mean.set_value(self.mean[...] + weight * (jax.lax.stop_gradient(mean) - self.mean[...]))
    self.var.set_value(self.var[...] + weight * (jax.lax.stop_gradient(var) - self.var[...]))
    self.count.set_value(count + 1)


def reset_standing_stats(model: nnx.Module, num_frames: int):
  """Resets every FrameBatchNorm in ``model`` for ``num_frames`` timesteps."""
  for _, module in nnx.iter_modules(model):
    if isinstance(module, FrameBatchNorm):
      module.reset_standing_stats(num_frames)
