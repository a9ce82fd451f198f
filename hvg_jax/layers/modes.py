"""How a model's stateful layers behave: training, sampling, standing-statistics passes.

Each function returns an ``nnx.view`` of the model: the same parameters and state (updates
through the view, such as accumulated standing statistics, reach the model), the layers'
flags set for the mode; the model itself is left as it was. Spectral norm and BatchNorm are
set apart (``set_view`` of SpectralNormalized and FrameBatchNorm), because the
standing-statistics passes need BatchNorm on batch statistics while spectral norm stays
frozen. A model is built in training mode.
"""

from flax import nnx


def _view(model, power_iteration: bool, standing_stats: bool, accumulate: bool):
  return nnx.view(model, power_iteration=power_iteration, standing_stats=standing_stats,
                  accumulate_standing_stats=accumulate, raise_if_not_found=False)


def training_view(model):
  """One power iteration per call; BatchNorm on the batch's per-frame statistics."""
  return _view(model, power_iteration=True, standing_stats=False, accumulate=False)


def sampling_view(model, standing_stats: bool = True):
  """Frozen spectral norm; BatchNorm on the standing statistics, or on the batch's."""
  return _view(model, power_iteration=False, standing_stats=standing_stats, accumulate=False)


def standing_stats_view(model):
  """For the dummy passes before sampling: frozen spectral norm, BatchNorm on batch
  statistics that are also folded into the standing ones."""
  return _view(model, power_iteration=False, standing_stats=False, accumulate=True)
