"""Metrics are plug-ins: a metric registered here, in one place, is checked, computed and
reported by the evaluator like the built-in ones."""

import sys

import numpy as np
import pytest

from conftest import REPO
from hvg_jax import config_lib
from hvg_jax.eval import evaluation
from hvg_jax.eval import metrics as metrics_lib

sys.path.insert(0, str(REPO / "tests"))
from test_chain import _random_levels  # pylint: disable=g-import-not-at-top,wrong-import-position


class MeanPixel(metrics_lib.Metric):
  """The mean pixel value, in [-1, 1], of the top level's first ``mean_pixel_videos``
  generated videos: a whole metric in one class."""
  name = "mean_pixel"
  best_mode = "max"
  defaults = {"mean_pixel_videos": 4}  # a setting of its own, absent from config.eval

  def check(self, e, level):
    config_lib.validation.check(e.mean_pixel_videos >= 1, "config.eval.mean_pixel_videos: "
                                f"at least 1, got {e.mean_pixel_videos}")

  def videos(self, s):
    return s.mean_pixel_videos

  def start(self, s, levels):
    return {"sum": 0.0, "count": 0, "videos": s.mean_pixel_videos}

  def update(self, state, batch):
    top = np.asarray(batch.videos[-1][:max(0, state["videos"] - batch.start)], np.float64)
    state["sum"] += top.sum()
    state["count"] += top.size

  def result(self, state, ctx):
    return {"mean_pixel": state["sum"] / state["count"]}


@pytest.fixture
def mean_pixel():
  metric = metrics_lib.register(MeanPixel())
  yield metric
  metrics_lib.unregister(metric.name)


def test_a_registered_metric_is_checked_computed_and_reported(mean_pixel):
  levels = _random_levels(["demo_level1", "demo_level2"])
  s = evaluation.settings(levels[-1].config.eval, metrics="mean_pixel,grounding", batch=4,
                          num_clips=4, mean_pixel_videos=6, standing_passes=1)
  assert s.metrics == ("mean_pixel", "grounding") and s.mean_pixel_videos == 6
  assert config_lib.BEST_MODES["mean_pixel"] == "max"
  with pytest.raises(config_lib.ConfigError, match="mean_pixel_videos: at least 1"):
    evaluation.checked(evaluation.settings(s, mean_pixel_videos=0), levels)

  evaluator = evaluation.Evaluator(s, progress=False)
  results = evaluator(levels)
  # The same videos made directly (the generation is seeded): 8 (two batches of 4), the
  # first 6 of them the metric's.
  tops = np.concatenate([np.asarray(videos[-1], np.float64)
                         for _, videos, _ in evaluator.generate(levels, s)])
  assert len(tops) == 8 and results.frames == 2  # one frame needed, a factor of 2
  np.testing.assert_allclose(results.metrics["mean_pixel"], tops[:6].mean(), rtol=1e-12)
  assert set(results.metrics) >= {"mean_pixel", "grounding", "grounding/level2_mse"}
  assert list(results.metrics)[0] == "grounding/level2_mse"  # registered after grounding
  table = evaluation.table(results, s, levels)
  assert f"  mean_pixel: {results.metrics['mean_pixel']:.4g}" in table.splitlines()


def test_metric_names_and_settings_are_checked_against_the_registry():
  registry = {"fvd": metrics_lib.METRICS["fvd"]}
  with pytest.raises(config_lib.ConfigError, match="subset of fvd, got 'psd'"):
    config_lib.evaluation.settings(None, registry, metrics="psd")
  # Without the registry (config_lib.validate of a whole config) the names and every
  # evaluation's fields are checked, not a metric's own.
  e = config_lib.base_config().eval
  e.clip_frames = 8
  config_lib.evaluation.validate(e, 1)
  with pytest.raises(config_lib.ConfigError, match="at least 9 frames"):
    config_lib.evaluation.validate(e, 1, metrics_lib.METRICS)
