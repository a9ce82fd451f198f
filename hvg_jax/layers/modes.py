"""How a model's stateful layers behave: training, sampling, standing-statistics passes.

Spectral norm and BatchNorm both read ``use_running_average`` (so ``model.train()`` and
``model.eval()`` switch both), but the standing-statistics passes need them apart: BatchNorm
on batch statistics while spectral norm stays frozen.
"""

from flax import nnx

from hvg_jax.layers.norm import FrameBatchNorm
from hvg_jax.layers.spectral import SpectralNormalized


def _set(model, spectral_frozen: bool, standing: bool, accumulate: bool):
  model.set_attributes(SpectralNormalized, use_running_average=spectral_frozen,
                       raise_if_not_found=False)
  model.set_attributes(FrameBatchNorm, use_running_average=standing,
                       accumulate_standing_stats=accumulate, raise_if_not_found=False)


def training_mode(model: nnx.Module):
  """One power iteration per call; BatchNorm on the batch's per-frame statistics."""
  _set(model, spectral_frozen=False, standing=False, accumulate=False)


def sampling_mode(model: nnx.Module, standing_stats: bool = True):
  """Frozen spectral norm; BatchNorm on the standing statistics, or on the batch's."""
  _set(model, spectral_frozen=True, standing=standing_stats, accumulate=False)


def standing_stats_mode(model: nnx.Module):
  """For the dummy passes before sampling: frozen spectral norm, BatchNorm on batch
  statistics that are also folded into the standing ones."""
  _set(model, spectral_frozen=True, standing=False, accumulate=True)
