"""Comparing two training states that should be equal up to float32 rounding."""

import jax
import numpy as np

# The module a state leaf belongs to: its path after the last of these names (a parameter,
# its spectral-norm vector and its Adam moments share it), without the leaf's own name.
_MODULE_ROOTS = {"discriminators", "generator", "ema_generator", "mu", "nu"}
TOLERANCE = 1e-5


def _module(path) -> str:
  names = [str(getattr(k, "key", getattr(k, "name", getattr(k, "idx", k)))) for k in path]
  names = names[:-1] if names[-1] == "value" else names
  roots = [i for i, n in enumerate(names) if n in _MODULE_ROOTS]
  return ".".join(names[(roots[-1] + 1 if roots else 0):-1])


def state_differences(a, b, tolerance=TOLERANCE):
  """Relative differences of two training states, allowing one flipped ReLU unit.

  The 8-device program sums each example's convolutions in another order than the
  1-device one (float32 rounding, 1e-7). A ReLU whose input lies within that of zero can
  then be on in one and off in the other: its gradient is in one output channel of that
  layer's gradient, at full size. The demo's level-2 update had such a unit in its second
  D step (D_M's first conv, an input of -1.0e-7; its gradient 4.2e-4 is 1.2e-3 of the
  layer's bias gradient, and the Adam moment differed by that; through D's moved
  parameters, G's gradient then differed by 1e-4 everywhere: hence learning rates 0 in
  sharded_update's level-2 update). A sharding fault (gradients not averaged, BatchNorm
  not global, the wrong examples' inputs) changes every layer: where more than one
  channel differs, nothing is set aside.

  Returns (the largest leaf's relative difference with at most one output channel of one
  module set aside, the modules and channels set aside). Each channel's difference is
  relative to its whole leaf, so a leaf's channels add up (in squares) to the leaf's.
  """
  channels = {}  # (module, channel) -> largest part of a leaf's relative difference
  leaves = []
  for (path, x), y in zip(jax.tree_util.tree_flatten_with_path(a)[0], jax.tree.leaves(b)):
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    diff = (x - y).reshape(-1, x.shape[-1] if x.ndim else 1)
    per_channel = np.linalg.norm(diff, axis=0) / max(np.linalg.norm(y), 1e-12)
    module = _module(path)
    for c in np.flatnonzero(per_channel > tolerance):
      channels[module, int(c)] = max(channels.get((module, int(c)), 0.0), per_channel[c])
    leaves.append((module, per_channel))
  set_aside = list(channels) if len(channels) == 1 else []
  worst = 0.0
  for module, per_channel in leaves:
    keep = [c for c in range(len(per_channel)) if (module, c) not in set_aside]
    worst = max(worst, float(np.linalg.norm(per_channel[keep])))
  return worst, [f"{m}[..., {c}]: {channels[m, c]:.2g}" for m, c in set_aside]
