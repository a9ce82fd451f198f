"""What a metric is: a settings declaration plus its computation over generated videos."""

import dataclasses
from typing import Any

import numpy as np

from hvg_jax.config_lib import evaluation as settings_lib


@dataclasses.dataclass
class Batch:
  """One batch of generated videos, as every metric sees it."""
  start: int  # index of its first video
  videos: list  # every level's videos in [-1, 1], level 1 first
  top: np.ndarray  # the top level's videos as uint8 (as a saved video would be)
  labels: np.ndarray | None  # classes (class-conditional chains)


@dataclasses.dataclass
class Context:
  """What a metric's reduction may read besides its own state."""
  settings: Any
  levels: list  # the chain's FrozenLevels, level 1 first
  real: Any = None  # the metric's real-data statistics (Metric.real)
  # I3D's pass shared by the needs_i3d metrics: {"logits", "features", "labels"} of the
  # generated clips and of the real ones.
  i3d: dict | None = None
  real_i3d: dict | None = None


class Metric(settings_lib.MetricSettings):
  """A metric: its settings (config_lib.evaluation.MetricSettings) and its computation.

  The evaluator calls ``real`` once per data set, ``start`` and ``update`` per batch of
  generated videos (in order; never all videos at once), then ``result`` (named floats)
  and ``extra`` (anything else kept in Results.extras, e.g. curves, and written by
  ``write``).
  """
  # The evaluation table's sections: lower first; metrics sharing a ``table_group`` share
  # a line (its first metric's ``table`` writes it).
  table_rank: int = 10
  table_group: str | None = None

  def for_chain(self, levels) -> bool:
    """Whether it measures this chain (False: left out, logged)."""
    del levels
    return True

  def fit(self, s, available: int, where: str, longer) -> dict:
    """Updates of the settings ``s`` for prepared real clips of ``available`` frames, or
    ConfigError saying so (``where``: the level; ``longer(frames)``: how to prepare
    longer clips)."""
    del s, available, where, longer
    return {}

  def real(self, real_clips) -> Any:
    """Statistics of the real clips it compares with (None: none). ``real_clips``: the
    top level's data (evaluation.RealClips: ``config``, ``settings``, ``statistics``)."""
    del real_clips
    return None

  def start(self, s, levels) -> Any:
    """The state ``update`` accumulates into."""
    del s, levels
    return []

  def update(self, state, batch: Batch):
    """Accumulates one batch into ``state`` (in place)."""

  def result(self, state, ctx: Context) -> dict[str, float]:
    """Its values, by name."""
    raise NotImplementedError

  def extra(self, state, ctx: Context) -> Any:
    """Anything besides the values Results keeps (None: nothing)."""
    del state, ctx
    return None

  def write(self, output, extra, *, settings, levels):
    """Writes ``extra`` into the directory ``output`` (plots, arrays)."""

  def table(self, group: list["Metric"], m: dict, s, levels) -> list[str]:
    """Lines of the evaluation table for the metrics ``group`` (this one first) from the
    values ``m``."""
    del s, levels
    return [f"  {x.name}: {m[x.name]:.4g}" for x in group if x.name in m]


class ClipsMetric(Metric):
  """A metric of the first ``clip_frames`` frames of ``num_clips`` generated and real clips
  (the clips the I3D metrics read)."""

  def frames(self, s):
    return s.clip_frames

  def videos(self, s):
    return s.num_clips

  def real_frames(self, s):
    return s.clip_frames
