"""Per-frame conditional BatchNorm and its standing statistics, against NumPy."""

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from hvg_jax.layers import FrameBatchNorm, reset_standing_stats

EPS = 1e-5


def _np_frame_bn(x, gain, offset, mean=None, var=None):
  x = np.asarray(x, np.float64)
  if mean is None:
    mean = x.mean(axis=(0, 2, 3))
    var = x.var(axis=(0, 2, 3))
  y = (x - mean[None, :, None, None]) / np.sqrt(var[None, :, None, None] + EPS)
  return y * gain[:, None, None, None] + offset[:, None, None, None]


def _cbn(features=4, frames=3, cond=5):
  bn = FrameBatchNorm(features, num_frames=frames, cond_features=cond, rngs=nnx.Rngs(0))
  return bn


def _gain_offset(bn, cond):
  bn.gain.eval(), bn.offset.eval()  # the kernels the last training call used
  gain = 1.0 + np.asarray(cond, np.float64) @ np.asarray(bn.gain.normalized_kernel())
  offset = np.asarray(cond, np.float64) @ np.asarray(bn.offset.normalized_kernel())
  bn.gain.train(), bn.offset.train()
  return gain, offset


def test_conditional_bn_matches_numpy(rng):
  bn = _cbn()
  x = rng.normal(2.0, 3.0, size=(6, 3, 5, 5, 4)).astype(np.float32)
  cond = rng.normal(size=(6, 5)).astype(np.float32)
  y = np.asarray(bn(x, cond))
  np.testing.assert_allclose(y, _np_frame_bn(x, *_gain_offset(bn, cond)), atol=1e-4)


def test_statistics_are_per_frame(rng):
  """Changing one frame's content changes that frame's statistics and outputs only: no
  statistic is shared across time."""
  bn = _cbn()
  bn.gain.eval(), bn.offset.eval()
  bn.accumulate_standing_stats = True  # exposes the batch statistics of one call
  x = rng.normal(size=(6, 3, 5, 5, 4)).astype(np.float32)
  cond = rng.normal(size=(6, 5)).astype(np.float32)
  x2 = x.copy()
  x2[0, 1] = rng.normal(3.0, 2.0, size=x2[0, 1].shape)  # one video's frame 1
  y = np.asarray(bn(x, cond))
  mean, var = np.asarray(bn.mean[...]), np.asarray(bn.var[...])
  reset_standing_stats(bn, 3)
  y2 = np.asarray(bn(x2, cond))
  mean2, var2 = np.asarray(bn.mean[...]), np.asarray(bn.var[...])

  np.testing.assert_allclose(mean2, x2.astype(np.float64).mean(axis=(0, 2, 3)), atol=1e-5)
  np.testing.assert_allclose(var2, x2.astype(np.float64).var(axis=(0, 2, 3)), atol=1e-4)
  np.testing.assert_array_equal(mean[[0, 2]], mean2[[0, 2]])
  np.testing.assert_array_equal(var[[0, 2]], var2[[0, 2]])
  assert np.all(np.abs(mean[1] - mean2[1]) > 0.1)
  np.testing.assert_array_equal(y[:, [0, 2]], y2[:, [0, 2]])
  # Frame 1 of the other videos is unchanged, yet its output moves with the statistics.
  assert not np.allclose(y[1:, 1], y2[1:, 1], atol=1e-2)
  np.testing.assert_allclose(y2, _np_frame_bn(x2, *_gain_offset(bn, cond)), atol=1e-4)


def test_unconditional_bn_has_its_own_affine(rng):
  bn = FrameBatchNorm(3, num_frames=2, rngs=nnx.Rngs(0))
  bn.scale.set_value(jnp.asarray([1.0, 2.0, 0.5]))
  bn.bias.set_value(jnp.asarray([0.0, -1.0, 3.0]))
  x = rng.normal(size=(4, 2, 3, 3, 3)).astype(np.float32)
  ref = _np_frame_bn(x, np.ones((4, 1)), np.zeros((4, 1))) * [1.0, 2.0, 0.5] + [0.0, -1.0, 3.0]
  np.testing.assert_allclose(np.asarray(bn(x)), ref, atol=1e-4)


def test_standing_statistics(rng):
  """Accumulated standing statistics are the average of the batches' per-frame
  statistics, and the standing mode normalises with them."""
  bn = _cbn(frames=3)
  batches = [rng.normal(i, 1 + i, size=(4, 3, 5, 5, 4)).astype(np.float32) for i in range(3)]
  cond = rng.normal(size=(4, 5)).astype(np.float32)
  bn.accumulate_standing_stats = True
  for x in batches:
    bn(x, cond)
  means = np.mean([x.astype(np.float64).mean(axis=(0, 2, 3)) for x in batches], axis=0)
  vars_ = np.mean([x.astype(np.float64).var(axis=(0, 2, 3)) for x in batches], axis=0)
  np.testing.assert_allclose(np.asarray(bn.mean[...]), means, atol=1e-4)
  np.testing.assert_allclose(np.asarray(bn.var[...]), vars_, atol=1e-3)
  assert int(bn.count[...]) == 3

  bn.eval()
  x = rng.normal(size=(2, 3, 5, 5, 4)).astype(np.float32)
  c = cond[:2]
  gain, offset = _gain_offset(bn, c)
  bn.gain.eval(), bn.offset.eval()
  np.testing.assert_allclose(np.asarray(bn(x, c)),
                             _np_frame_bn(x, gain, offset, means, vars_), atol=1e-3)
  with pytest.raises(ValueError, match="standing statistics hold 3 timesteps"):
    bn(np.zeros((2, 5, 5, 5, 4), np.float32), c)


def test_reset_resizes_standing_statistics_for_another_length(rng):
  model = nnx.Sequential(_cbn(frames=3))
  reset_standing_stats(model, 7)
  bn = model.layers[0]
  assert bn.mean.shape == (7, 4) and int(bn.count[...]) == 0
  bn.accumulate_standing_stats = True
  x = rng.normal(size=(2, 7, 3, 3, 4)).astype(np.float32)
  bn(x, rng.normal(size=(2, 5)).astype(np.float32))
  np.testing.assert_allclose(np.asarray(bn.mean[...]), x.mean(axis=(0, 2, 3)), atol=1e-5)
