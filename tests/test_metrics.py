"""Metric building blocks against closed forms, SciPy, TensorFlow and known signals."""

import numpy as np
import pytest
import scipy.linalg

from hvg_jax import video_ops
from hvg_jax.eval import frechet, grounding, inception_score, psd, resize


def _random_cov(rng, d):
  a = rng.normal(size=(d, d))
  return a @ a.T / d + 0.1 * np.eye(d)


def test_frechet_distance_of_gaussians_in_closed_form(rng):
  mu1, mu2 = rng.normal(size=5), rng.normal(size=5)
  s1, s2 = rng.uniform(0.5, 2.0, 5), rng.uniform(0.5, 2.0, 5)
  got = frechet.distance(frechet.Gaussian(mu1, np.diag(s1), 0),
                         frechet.Gaussian(mu2, np.diag(s2), 0))
  expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(s1) - np.sqrt(s2)) ** 2)
  np.testing.assert_allclose(got, expected, rtol=1e-10)


def test_frechet_distance_agrees_with_scipy_sqrtm(rng):
  for d in (3, 16, 64):
    a = frechet.Gaussian(rng.normal(size=d), _random_cov(rng, d), 0)
    b = frechet.Gaussian(rng.normal(size=d), _random_cov(rng, d), 0)
    diff = a.mean - b.mean
    reference = (diff @ diff + np.trace(a.cov) + np.trace(b.cov)
                 - 2 * np.trace(scipy.linalg.sqrtm(a.cov @ b.cov)).real)
    np.testing.assert_allclose(frechet.distance(a, b), reference, rtol=1e-8)


def test_a_set_against_itself_is_zero_and_singular_sets_stay_finite(rng):
  x = rng.normal(size=(500, 8)) @ rng.normal(size=(8, 8))
  assert abs(frechet.distance(frechet.fit(x), frechet.fit(x))) < 1e-9
  # Fewer samples than dimensions: singular covariances, still a real, small distance for
  # two draws of the same distribution and a large one for a shifted distribution.
  y, z = rng.normal(size=(20, 64)), rng.normal(size=(20, 64))
  same = frechet.distance(frechet.fit(y), frechet.fit(z))
  shifted = frechet.distance(frechet.fit(y), frechet.fit(z + 3.0))
  assert np.isfinite(same) and 0 < same < shifted and shifted > 64 * 9 * 0.9


def test_gaussian_statistics_round_trip(tmp_path, rng):
  g = frechet.fit(rng.normal(size=(50, 4)))
  g.save(tmp_path / "stats.npz")
  h = frechet.Gaussian.load(tmp_path / "stats.npz")
  np.testing.assert_array_equal(g.cov, h.cov)
  np.testing.assert_array_equal(g.mean, h.mean)
  assert h.count == 50


def test_inception_score_extremes():
  uniform = np.full((100, 7), 1 / 7)
  np.testing.assert_allclose(inception_score.inception_score(uniform), (1.0, 0.0), atol=1e-9)
  confident = np.eye(7)[np.arange(700) % 7]  # one-hot, every class as often
  mean, std = inception_score.inception_score(confident, splits=10)
  np.testing.assert_allclose((mean, std), (7.0, 0.0), atol=1e-6)
  with pytest.raises(ValueError, match="splits"):
    inception_score.inception_score(uniform[:5])


def test_resize_matches_tf1_resize_bilinear_by_hand():
  x = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
  # Downscaling by 2 samples rows and columns 0 and 2: no interpolation, no averaging.
  np.testing.assert_allclose(resize.resize_bilinear_tf1(x, 2, 2)[0, ..., 0], [[0, 2], [8, 10]])
  # Upscaling 2x2 -> 3x3 samples at 0, 2/3, 4/3 (clamped to the last pixel).
  y = np.array([[0, 1], [2, 3]], np.float32).reshape(1, 2, 2, 1)
  expected = [[0, 2 / 3, 1], [4 / 3, 2, 7 / 3], [2, 8 / 3, 3]]
  np.testing.assert_allclose(resize.resize_bilinear_tf1(y, 3, 3)[0, ..., 0], expected,
                             rtol=1e-6)


def test_resize_matches_tensorflow(rng):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  x = rng.uniform(-1, 1, size=(2, 37, 29, 3)).astype(np.float32)
  for size in ((224, 224), (16, 10)):
    reference = tf.compat.v1.image.resize_bilinear(x, size, align_corners=False,
                                                   half_pixel_centers=False).numpy()
    np.testing.assert_allclose(resize.resize_bilinear_tf1(x, *size), reference, atol=1e-5)


def test_psd_of_a_sinusoid_peaks_at_its_frequency():
  x = np.arange(32)
  for k in (3, 5, 11):
    image = np.sin(2 * np.pi * k * x / 32)[None, :] * np.ones((32, 1))
    spectrum = psd.radial_power_spectrum(image)
    assert len(spectrum) == 17 and int(np.argmax(spectrum)) == k


def test_psd_over_sets_of_videos(rng, tmp_path):
  videos = rng.integers(0, 256, size=(12, 12, 16, 16, 3), dtype=np.uint8)
  spectra = psd.video_spectra(videos)
  assert sorted(spectra) == ["frame_1", "frame_10"]  # 24 and 48 are beyond 12 frames
  assert spectra["frame_10"].shape == (12, 9)
  # uint8 and [-1, 1] floats of the same frames give the same spectra.
  floats = videos.astype(np.float32) / 127.5 - 1.0
  # (bin 0 is zero up to rounding: the mean is taken out)
  np.testing.assert_allclose(psd.video_spectra(floats)["frame_1"], spectra["frame_1"],
                             rtol=1e-5, atol=1e-12)
  mean, std = psd.over_sets(spectra["frame_10"], sets=3)
  np.testing.assert_allclose(mean, spectra["frame_10"].mean(axis=0))  # equal parts
  assert np.all(std >= 0) and np.all(mean[1:] > 0)
  assert psd.log_distance(mean, mean) == 0
  assert psd.log_distance(mean, 10 * mean) == pytest.approx(1.0)
  psd.plot(tmp_path / "psd.png", {"frame_1": (mean, std)}, {"frame_1": (mean * 2, std)})
  assert (tmp_path / "psd.png").stat().st_size > 1000


def test_grounding_is_zero_for_real_pairs_and_large_when_the_input_is_ignored(rng):
  high = rng.uniform(-1, 1, size=(3, 8, 16, 16, 3)).astype(np.float32)
  low = np.asarray(video_ops.downsample_video(high, 2, 8))
  real = grounding.grounding(high, low, time_factor=2)
  assert real["mse"] < 1e-12 and real["mae"] < 1e-6
  assert real["mse_shuffled"] > 0.05  # each output against the next video's input
  ignored = rng.uniform(-1, 1, size=high.shape).astype(np.float32)  # unrelated output
  assert grounding.grounding(ignored, low, time_factor=2)["mse"] > 0.05
  # Plausible videos, each made from another video's input: as far off as unrelated ones.
  swapped = grounding.grounding(np.roll(high, 1, axis=0), low, time_factor=2)
  assert swapped["mse"] > 0.05


def test_i3d_shapes_and_widths():
  """The Kinetics-400 I3D: 400 logits and 1024 features for 16 frames of 224x224, and the
  inception blocks' widths of the paper (Inception-v1's)."""
  import jax  # pylint: disable=g-import-not-at-top
  from flax import nnx  # pylint: disable=g-import-not-at-top
  from hvg_jax.eval import i3d  # pylint: disable=g-import-not-at-top
  model = nnx.eval_shape(lambda: i3d.I3D(rngs=nnx.Rngs(0)))
  out = jax.eval_shape(lambda m, x: m(x), model,
                       jax.ShapeDtypeStruct((2, 16, 224, 224, 3), np.float32))
  assert out["logits"].shape == (2, 400) and out["features"].shape == (2, 1024)
  assert [b.features for b in model.mixed] == [256, 480, 512, 512, 512, 528, 832, 832, 1024]
  assert model.logits.conv.kernel.shape == (1, 1, 1, 1024, 400)


def test_i3d_pads_like_tensorflow(rng):
  """The stem (7x7x7 stride-2 conv, BatchNorm, ReLU, 1x3x3 stride-2 max pool) on odd sizes
  equals TensorFlow's conv3d / max_pool3d with padding='SAME'."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from flax import nnx  # pylint: disable=g-import-not-at-top
  from hvg_jax.eval import i3d  # pylint: disable=g-import-not-at-top
  unit = i3d.Unit3D(3, 4, (7, 7, 7), (2, 2, 2), rngs=nnx.Rngs(0))
  x = rng.uniform(-1, 1, size=(1, 9, 13, 11, 3)).astype(np.float32)
  ours = np.asarray(i3d.max_pool_same(unit(x), (1, 3, 3), (1, 2, 2)))
  kernel = np.asarray(unit.conv.kernel[...])
  y = tf.nn.conv3d(x, kernel, strides=(1, 2, 2, 2, 1), padding="SAME")
  bn = unit.bn
  y = (y - bn.mean[...]) / np.sqrt(bn.var[...] + 1e-3) * bn.scale[...] + bn.bias[...]
  y = tf.nn.max_pool3d(tf.nn.relu(y), (1, 1, 3, 3, 1), (1, 1, 2, 2, 1), "SAME").numpy()
  assert ours.shape == y.shape == (1, 5, 4, 3, 4)
  np.testing.assert_allclose(ours, y, atol=1e-5)
