"""Comparing two training states that should be equal up to float32 rounding."""

import jax
import numpy as np

TOLERANCE = 1e-5


def _names(path) -> list[str]:
  names = [str(getattr(k, "key", getattr(k, "name", getattr(k, "idx", k)))) for k in path]
  return names[:-1] if names and names[-1] == "value" else names


def _layer(names) -> str | None:
  """The layer of an Adam moment of a kernel or bias (``...mu.<layer>.kernel``), whose last
  axis is the layer's output channels; None for any other leaf."""
  moments = [i for i, n in enumerate(names) if n in ("mu", "nu")]
  if not moments or names[-1] not in ("kernel", "bias"):
    return None
  return ".".join(names[moments[-1] + 1:-1])


def state_differences(a, b, tolerance=TOLERANCE):
  """Relative differences of two training states, allowing one flipped ReLU unit.

  The 8-device program sums each example's convolutions in another order than the
  1-device one (float32 rounding, 1e-7). A ReLU whose input lies within that of zero can
  then be on in one and off in the other: its gradient is in one output channel of that
  layer's gradient, at full size. The demo's level-2 update had such a unit in its second
  D step (D_M's first conv, an input of -1.0e-7; its gradient 4.2e-4 is 1.2e-3 of the
  layer's bias gradient, and that Adam moment differed by that; through D's moved
  parameters, G's gradient then differed by 1e-4 everywhere: hence learning rates 0 in
  sharded_update's level-2 update, where only gradients can differ). A sharding fault
  (gradients not averaged, BatchNorm not global, the wrong examples' inputs) changes every
  layer.

  Returns (the largest leaf's relative difference, with at most one output channel of one
  layer's Adam moments set aside, and only where it is the one channel anywhere beyond
  ``tolerance``; the layers and channels set aside). Each channel's difference is relative
  to its whole leaf, so a leaf's channels add up (in squares) to the leaf's. Any other leaf
  (parameters, statistics, spectral-norm vectors, counters) counts whole; a value that is
  not finite in either state makes the difference infinite.
  """
  paths, tree_a = jax.tree_util.tree_flatten_with_path(a)
  leaves_b, tree_b = jax.tree.flatten(b)
  assert tree_a == tree_b, "the two states differ in structure"
  channels = {}  # (layer, channel) -> largest part of a leaf's relative difference
  leaves = []  # (layer or None, per-channel relative differences)
  for (path, x), y in zip(paths, leaves_b):
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
      return float("inf"), []
    layer = _layer(_names(path)) if x.ndim else None
    diff = (x - y).reshape(-1, x.shape[-1]) if layer else (x - y).reshape(-1, 1)
    per_channel = np.linalg.norm(diff, axis=0) / max(np.linalg.norm(y), 1e-12)
    for c in np.flatnonzero(per_channel > tolerance) if layer else []:
      channels[layer, int(c)] = max(channels.get((layer, int(c)), 0.0), per_channel[c])
    leaves.append((layer, per_channel))
  set_aside = list(channels) if len(channels) == 1 else []
  worst = 0.0
  for layer, per_channel in leaves:
    keep = [c for c in range(len(per_channel)) if (layer, c) not in set_aside]
    worst = max(worst, float(np.linalg.norm(per_channel[keep])))
  return worst, [f"{m}[..., {c}]: {channels[m, c]:.2g}" for m, c in set_aside]
