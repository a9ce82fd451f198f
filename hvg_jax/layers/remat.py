"""Rematerialisation: a block's activations recomputed in the backward pass instead of
stored (config ``model.remat``), trading compute for the memory of long, wide videos."""

from flax import nnx


def call(module, *args, enabled: bool):
  """``module(*args)``; with ``enabled``, under ``nnx.remat`` (state updates such as
  spectral norm's power iteration still come out of the forward pass)."""
  if not enabled:
    return module(*args)
  return nnx.remat(lambda m, *a: m(*a))(module, *args)
