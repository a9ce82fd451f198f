"""Generators and discriminators: the behaviour the papers rely on."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from hvg_jax.layers import (SpectralVector, reset_standing_stats, sampling_view,
                            standing_stats_view)
from hvg_jax.models import (Level1Generator, MatchingDiscriminator, SpatialDiscriminator,
                            TemporalDiscriminator, UpsamplingGenerator, select_frames)


def _batch_statistics_mode(model):
  """Fixed spectral-norm vectors, BatchNorm on the batch's per-frame statistics."""
  model = sampling_view(model, standing_stats=False)
  return model


def _upsampler(**kw):
  args = dict(resolution=16, input_resolution=8, time_factor=2, num_frames=12, ch=2,
              mults=(2, 1), z_dim=4)
  args.update(kw)
  return UpsamplingGenerator(rngs=nnx.Rngs(0), **args)


def test_upsampler_is_convolutional_in_time(rng):
  """On a 4x longer input, the output frames away from the window's edges equal those
  of the same run on the window: training windows and whole-video inference agree."""
  g = _batch_statistics_mode(_upsampler())
  z = rng.normal(size=(3, 4)).astype(np.float32)
  long_low = rng.uniform(-1, 1, size=(3, 24, 8, 8, 3)).astype(np.float32)
  start = 9
  window_out = np.asarray(g(z, long_low[:, start:start + 6]))
  long_out = np.asarray(g(z, long_low))
  assert window_out.shape == (3, 12, 16, 16, 3) and long_out.shape == (3, 48, 16, 16, 3)
  # Two units, each with two temporal convolutions of kernel 3: a reach of 4 frames.
  reach = 4
  interior = slice(reach, 12 - reach)
  np.testing.assert_allclose(window_out[:, interior],
                             long_out[:, 2 * start + reach:2 * start + 12 - reach], atol=1e-5)
  # The window's first frame sees zero padding instead of its left neighbours.
  assert not np.allclose(window_out[:, 0], long_out[:, 2 * start], atol=1e-4)


def test_upsampler_output_depends_on_its_input_only_through_residuals(rng):
  g = _batch_statistics_mode(_upsampler())
  z = rng.normal(size=(2, 4)).astype(np.float32)
  low = rng.uniform(-1, 1, size=(2, 6, 8, 8, 3)).astype(np.float32)

  def input_grad():
    return np.asarray(jax.grad(lambda v: jnp.sum(g(z, v) ** 2))(low))

  assert np.abs(input_grad()).sum() > 1e-3, "the output must depend on x^{l-1}"
  # Residuals at every block no larger than the 8 px input; none on the 16 px blocks.
  sizes = [(r, res is not None) for unit in g.units
           for r, res in zip(unit.block_resolutions, unit.residuals)]
  assert sizes == [(4, True), (8, True), (8, True), (8, True), (16, False), (16, False)]
  for unit in g.units:
    for res in unit.residuals:
      if res is not None:
        res.kernel.set_value(jnp.zeros_like(res.kernel[...]))
  np.testing.assert_array_equal(input_grad(), 0.0)


def test_upsampler_input_skip_adds_the_upscaled_input_to_the_output(rng):
  """config model.g.input_skip: with the head's features zeroed (its BatchNorm's scale and
  bias), the output is x^{l-1} stretched in time and upscaled bilinearly; without it, the
  papers' upsampler then outputs zero."""
  z = rng.normal(size=(2, 4)).astype(np.float32)
  low = rng.uniform(-0.9, 0.9, size=(2, 6, 8, 8, 3)).astype(np.float32)
  expected = jax.image.resize(jnp.repeat(low, 2, axis=1), (2, 12, 16, 16, 3), "bilinear")
  outputs = {}
  for skip in (True, False):
    g = _batch_statistics_mode(_upsampler(input_skip=skip))
    for p in (g.head.bn.scale, g.head.bn.bias):
      p.set_value(jnp.zeros_like(p[...]))
    outputs[skip] = np.asarray(g(z, low))
  np.testing.assert_allclose(outputs[True], expected, atol=1e-5)
  np.testing.assert_array_equal(outputs[False], 0.0)


def test_upsampler_rejects_an_input_of_the_wrong_size(rng):
  g = _upsampler()
  with pytest.raises(ValueError, match="low-resolution input must be"):
    g(np.zeros((1, 4), np.float32), np.zeros((1, 6, 16, 16, 3), np.float32))


def test_level1_generator(rng):
  g = Level1Generator(resolution=16, num_frames=6, ch=2, mults=(4, 2, 1), z_dim=4,
                      num_classes=3, embed_dim=3, rngs=nnx.Rngs(0))
  _batch_statistics_mode(g)
  z = rng.normal(size=(4, 4)).astype(np.float32)
  labels = jnp.array([0, 1, 2, 0])
  video = np.asarray(g(z, labels))
  assert video.shape == (4, 6, 16, 16, 3)
  assert video.std() > 0.01, "a video, not a constant"
  assert not np.allclose(video[:, 0], video[:, 5]), "the ConvGRU makes frames evolve"
  longer = np.asarray(g(z, labels, num_frames=24))  # unrolled beyond training length
  assert longer.shape == (4, 24, 16, 16, 3)
  other = np.asarray(g(z, jnp.array([1, 1, 2, 0])))
  assert not np.allclose(video[0], other[0]), "the class conditions the generator"
  with pytest.raises(ValueError, match="class-conditional"):
    g(z)


def test_level1_unit_that_keeps_resolution():
  for keep, expected in (("last", [True, True, False]), ("first", [False, True, True])):
    g = Level1Generator(resolution=16, num_frames=2, ch=1, mults=(2, 2, 1), z_dim=2,
                        keep_unit=keep, rngs=nnx.Rngs(0))
    assert [u.block1.upsample for u in g.units] == expected


def test_select_frames_draws_k_distinct_frames(rng):
  video = jnp.asarray(np.arange(16 * 12, dtype=np.float32).reshape(16, 12, 1, 1, 1))
  frames, idx = select_frames(video, 8, jax.random.key(0))
  idx = np.asarray(idx)
  assert frames.shape == (16, 8, 1, 1, 1)
  assert all(len(set(row)) == 8 for row in idx) and idx.min() >= 0 and idx.max() < 12
  assert len({tuple(row) for row in idx}) > 1, "each video draws its own frames"
  np.testing.assert_array_equal(np.asarray(frames)[:, :, 0, 0, 0],
                                np.arange(16)[:, None] * 12 + idx)


def test_spatial_discriminator_judges_only_its_k_frames(rng):
  d = SpatialDiscriminator(resolution=8, ch=2, mults=(1, 2), k=3, rngs=nnx.Rngs(0))
  d.eval()
  key = jax.random.key(3)
  video = rng.normal(size=(2, 10, 8, 8, 3)).astype(np.float32)
  scores = np.asarray(d(video, key=key))
  assert scores.shape == (2, 3)
  _, idx = select_frames(video, 3, key)
  chosen = set(np.asarray(idx)[0].tolist())
  unseen = next(t for t in range(10) if t not in chosen)
  changed = video.copy()
  changed[0, unseen] += 5.0
  np.testing.assert_array_equal(np.asarray(d(changed, key=key)), scores)
  changed = video.copy()
  changed[0, min(chosen)] += 5.0
  assert not np.allclose(np.asarray(d(changed, key=key))[0], scores[0])
  # A video shorter than k has all its frames judged.
  assert d(video[:, :2], key=key).shape == (2, 2)


def test_class_changes_every_projection_discriminator_score(rng):
  video = rng.normal(size=(2, 4, 16, 16, 3)).astype(np.float32)
  low = rng.normal(size=(2, 2, 8, 8, 3)).astype(np.float32)
  a, b = jnp.array([0, 1]), jnp.array([2, 1])
  nets = {
      "spatial": (SpatialDiscriminator(resolution=16, ch=2, mults=(1, 2, 2), num_classes=3,
                                       rngs=nnx.Rngs(0)), lambda d, y: d(video, y, key=jax.random.key(0))),
      "temporal": (TemporalDiscriminator(resolution=16, ch=2, mults=(1, 2, 2), num_classes=3,
                                         rngs=nnx.Rngs(1)), lambda d, y: d(video, y)),
      "matching": (MatchingDiscriminator(input_resolution=8, time_factor=2, ch=2,
                                         mults=(1, 2, 2), num_classes=3, rngs=nnx.Rngs(2)),
                   lambda d, y: d(video, low, y)),
  }
  for name, (d, call) in nets.items():
    d.eval()
    sa, sb = np.asarray(call(d, a)), np.asarray(call(d, b))
    assert not np.allclose(sa[0], sb[0]), name
    np.testing.assert_allclose(sa[1], sb[1], rtol=1e-6, err_msg=name)


def test_temporal_discriminator_pools_and_starts_3d(rng):
  d = TemporalDiscriminator(resolution=16, ch=2, mults=(1, 2, 2, 4), rngs=nnx.Rngs(0))
  d.eval()
  assert [b.conv1.kernel.ndim for b in d.net.blocks] == [5, 5, 4, 4]
  assert d.net.resolution == 8  # judges the 2x2-pooled video
  video = rng.normal(size=(2, 5, 16, 16, 3)).astype(np.float32)
  scores = np.asarray(d(video))
  assert scores.shape == (2, 5)
  pooled = video.reshape(2, 5, 8, 2, 8, 2, 3).mean(axis=(3, 5))
  np.testing.assert_allclose(scores, np.asarray(d.net(pooled)), rtol=1e-5, atol=1e-5)
  changed = video.copy()
  changed[:, 0] += 3.0  # the 3D blocks carry it to the next frames' scores
  assert not np.allclose(np.asarray(d(changed))[:, 1], scores[:, 1])


def test_matching_discriminator_sees_both_videos(rng):
  d = MatchingDiscriminator(input_resolution=8, time_factor=2, ch=2, mults=(1, 2),
                            rngs=nnx.Rngs(0))
  d.eval()
  video = rng.normal(size=(2, 6, 16, 16, 3)).astype(np.float32)
  low = rng.normal(size=(2, 3, 8, 8, 3)).astype(np.float32)
  scores = np.asarray(d(video, low))
  assert scores.shape == (2, 3)
  assert not np.allclose(np.asarray(d(video, low + 1.0)), scores)
  odd = video.copy()
  odd[:, 1] += 3.0  # f_t keeps frames 0, 2, 4: frame 1 is never judged
  np.testing.assert_array_equal(np.asarray(d(odd, low)), scores)
  odd[:, 2] += 3.0
  assert not np.allclose(np.asarray(d(odd, low)), scores)
  with pytest.raises(ValueError, match="does not line up"):
    d(video, low[:, :2])


def test_standing_statistics_passes_freeze_spectral_norm(rng):
  """The dummy passes before sampling accumulate BatchNorm statistics and leave every
  spectral-norm vector alone; sampling then uses those statistics."""
  g = _upsampler()
  z = rng.normal(size=(2, 4)).astype(np.float32)
  low = rng.uniform(-1, 1, size=(2, 6, 8, 8, 3)).astype(np.float32)
  g = sampling_view(g)
  with pytest.raises(ValueError, match="standing statistics are empty"):
    g(z, low)
  u_before = jax.tree.map(np.asarray, nnx.state(g, SpectralVector))
  reset_standing_stats(g, 12)
  g = standing_stats_view(g)
  for _ in range(3):
    g(rng.normal(size=(2, 4)).astype(np.float32), low)
  u_after = jax.tree.map(np.asarray, nnx.state(g, SpectralVector))
  jax.tree.map(np.testing.assert_array_equal, u_before, u_after)
  assert int(g.head.bn.count[...]) == 3
  g = sampling_view(g)
  a, b = np.asarray(g(z, low)), np.asarray(g(z[:1], low[:1]))
  # On standing statistics a video no longer depends on the rest of its batch.
  np.testing.assert_allclose(a[:1], b, atol=1e-5)
