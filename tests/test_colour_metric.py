"""The colour metric: per-channel histograms and saturated values of generated clips
against real ones, by hand on tiny arrays and through the evaluator."""

import sys

import numpy as np
import pytest

from conftest import REPO
from hvg_jax import video_io
from hvg_jax.eval import evaluation, real_data
from hvg_jax.eval import metrics as metrics_lib
from hvg_jax.eval.metrics import colour

sys.path.insert(0, str(REPO / "tests"))
from test_chain import _random_levels  # pylint: disable=g-import-not-at-top,wrong-import-position

METRIC = metrics_lib.METRICS["colour"]


def _score(generated, real, *, num=None, frames=None, batch=3) -> dict:
  """The metric's values through its own start, update (batches of ``batch``) and result,
  the real counts as its ``real`` would cache them."""
  s = evaluation.settings(None, metrics="colour", num_clips=num or len(generated),
                          clip_frames=frames or generated.shape[1], batch=batch)
  state = METRIC.start(s, [])
  for start in range(0, len(generated), batch):
    METRIC.update(state, metrics_lib.Batch(start, [], generated[start:start + batch], None))
  return METRIC.result(state, metrics_lib.Context(s, [], real=colour.counts(real)))


def _reference(generated, real) -> dict:
  """The values from np.histogram over all pixels, without the metric's code."""
  tv, shares = [], []
  for c in range(3):
    p, q = (np.histogram(v[..., c], bins=32, range=(0, 256))[0] for v in (generated, real))
    tv.append(0.5 * np.abs(p / p.sum() - q / q.sum()).sum())
  for v in (generated, real):
    shares.append(np.mean((v < 5) | (v > 250)))
  return {"colour/histogram_tv": np.mean(tv), "colour/saturated_generated": shares[0],
          "colour/saturated_real": shares[1],
          "colour/saturated_ratio": shares[0] / max(shares[1], 1e-6)}


def test_identical_frames_have_no_distance(rng):
  real = rng.integers(0, 256, (5, 3, 6, 6, 3), dtype=np.uint8)
  m = _score(real, real, batch=2)
  assert m["colour/histogram_tv"] == 0 and m["colour"] == 0
  assert m["colour/saturated_ratio"] == 1
  assert m["colour/saturated_generated"] == m["colour/saturated_real"] > 0
  # Only the first num_clips videos and clip_frames frames are read: white ones past them
  # change nothing.
  longer = np.concatenate([real, np.full((5, 2, 6, 6, 3), 255, np.uint8)], axis=1)
  more = np.concatenate([longer, np.full((3,) + longer.shape[1:], 255, np.uint8)])
  assert _score(more, real, num=5, frames=3, batch=2) == m


def test_same_data_is_close_and_other_colours_far(rng):
  # "Real" frames: a skewed, per-channel different distribution; two halves of them.
  real = np.clip(rng.normal([90, 120, 160], [30, 45, 60], (8, 4, 64, 64, 3)), 0, 255)
  real = real.astype(np.uint8)
  m = _score(real[:4], real[4:])
  assert m["colour/histogram_tv"] < 0.02
  assert 0.8 < m["colour/saturated_ratio"] < 1.25
  noise = rng.integers(0, 256, (4, 4, 16, 16, 3), dtype=np.uint8)
  narrow = rng.integers(104, 120, (4, 4, 16, 16, 3), dtype=np.uint8)  # 2 of 32 bins
  m = _score(noise, narrow)
  assert m["colour/histogram_tv"] > 0.5
  assert m["colour/saturated_real"] == 0 and m["colour/saturated_ratio"] > 1000
  for name, want in _reference(noise, narrow).items():
    np.testing.assert_allclose(m[name], want, rtol=1e-12, err_msg=name)


def test_values_by_hand():
  black = np.zeros((2, 2, 3, 3, 3), np.uint8)
  white = np.full((1, 1, 2, 2, 3), 255, np.uint8)
  m = _score(black, white)
  assert m == {"colour/histogram_tv": 1.0, "colour/saturated_generated": 1.0,
               "colour/saturated_real": 1.0, "colour/saturated_ratio": 1.0, "colour": 1.0}
  # One pixel each: red differs (disjoint bins), green and blue the same: TV 1/3; one of
  # three values saturated on each side (0 below 5, 255 above 250).
  m = _score(np.array([0, 100, 200], np.uint8).reshape(1, 1, 1, 1, 3),
             np.array([255, 100, 200], np.uint8).reshape(1, 1, 1, 1, 3))
  np.testing.assert_allclose(m["colour/histogram_tv"], 1 / 3, rtol=1e-12)
  assert m["colour/saturated_generated"] == m["colour/saturated_real"] == 1 / 3
  # Two pixels against two black ones: grey 8 is bin 1 (bins of 8 values), and not
  # saturated (5 <= 8 <= 250): TV 0.5, shares 0.5 and 1.
  two = np.array([[0, 0, 0], [8, 8, 8]], np.uint8).reshape(1, 1, 1, 2, 3)
  m = _score(two, np.zeros_like(two))
  assert m["colour/histogram_tv"] == 0.5 and m["colour/saturated_generated"] == 0.5
  assert m["colour/saturated_real"] == 1 and m["colour/saturated_ratio"] == 0.5
  with pytest.raises(ValueError, match="uint8 videos"):
    colour.counts(np.zeros((1, 1, 2, 2, 3), np.float32))


def test_the_evaluator_computes_and_reports_it(tmp_path):
  levels = _random_levels(["demo_level1", "demo_level2"])
  s = evaluation.settings(levels[-1].config.eval, metrics="colour,grounding", batch=4,
                          num_clips=6, clip_frames=2, standing_passes=1,
                          cache_dir=str(tmp_path))
  evaluator = evaluation.Evaluator(s, progress=False)
  assert evaluator.embedder is None  # no I3D
  results = evaluator(levels)
  assert list(results.metrics)[-5:] == ["colour/histogram_tv", "colour/saturated_generated",
                                        "colour/saturated_real", "colour/saturated_ratio",
                                        "colour"]
  # The same clips directly: the first 6 generated videos (of two batches of 4) and the
  # 6 real clips the evaluator reads, their first 2 frames.
  tops = np.concatenate([video_io.to_uint8(videos[-1])
                         for _, videos, _ in evaluator.generate(levels, s)])[:6, :2]
  real = np.concatenate([v for v, _ in real_data.clips(
      levels[-1].config, split=s.split, num=6, frames=2, seed=s.seed, batch=s.batch)])
  assert real.shape == tops.shape
  want = _reference(tops, real)
  for name, value in want.items():
    np.testing.assert_allclose(results.metrics[name], value, rtol=1e-12, err_msg=name)
  assert list(tmp_path.glob("colour_*.npz"))  # the real counts are cached
  m = results.metrics
  line = (f"  colour: histogram TV {m['colour/histogram_tv']:.3f}, saturated "
          f"{m['colour/saturated_generated']:.1%} (real {m['colour/saturated_real']:.1%})")
  table = evaluation.table(results, s, levels).splitlines()
  assert line in table and table.index(line) > table.index(
      next(x for x in table if "grounding" in x))
