"""Colour: do the generated videos have the data's colours? A cheap check beside FVD.

FVD needs thousands of clips through I3D to be trustworthy and says nothing about *what*
is wrong; a generator whose colours drift (a tint, washed-out or crushed frames, tanh
outputs stuck at -1 or 1) shows it here, in counts of pixel values: per-channel 32-bin
histograms (bins of 8 values over 0..255) of the first ``clip_frames`` frames of
``num_clips`` generated and real clips (the clips the I3D metrics read), accumulated per
batch on the host. It reports

- ``colour/histogram_tv``: the total variation distance 0.5 * sum |p - q| of the
  normalised histograms, averaged over the 3 channels (0: the same colours, 1: disjoint);
  also as ``colour``, the value a best generator is ranked by (lower is better);
- ``colour/saturated_generated``, ``colour/saturated_real``: the share of values (all
  channels) below 5 or above 250, and ``colour/saturated_ratio``: generated / real.
"""

import numpy as np

from hvg_jax.config_lib import validation
from hvg_jax.eval.metrics.registry import register
from hvg_jax.eval.metrics.base import ClipsMetric

BINS = 32  # per channel, of 256 // BINS values each (BINS divides 256)
CHANNELS = 3
LOW, HIGH = 5, 250  # a value below LOW or above HIGH is saturated
MIN_SHARE = 1e-6  # the ratio divides by at least this (real clips with no saturated value)


def counts(videos) -> dict[str, np.ndarray]:
  """Per video of uint8 ``videos`` (N, T, H, W, 3): its histogram of each channel
  ("histogram", (N, 3, BINS)), its saturated values and all its values ("saturated",
  "values", (N,)). Per video (not summed), so that the real clips' counts are cached as
  the real-data statistics are (one row per clip)."""
  videos = np.asarray(videos)
  if videos.dtype != np.uint8 or videos.ndim != 5 or videos.shape[-1] != CHANNELS:
    raise ValueError(f"colour counts need uint8 videos (N, T, H, W, {CHANNELS}), got "
                     f"{videos.dtype} {videos.shape}")
  bins = videos // (256 // BINS)
  histogram = np.array([[np.bincount(v[..., c].ravel(), minlength=BINS)
                         for c in range(CHANNELS)] for v in bins], np.int64)
  histogram = histogram.reshape(len(videos), CHANNELS, BINS)
  saturated = np.count_nonzero((videos < LOW) | (videos > HIGH), axis=(1, 2, 3, 4))
  values = np.full(len(videos), videos[0].size if len(videos) else 0, np.int64)
  return {"histogram": histogram, "saturated": saturated.astype(np.int64), "values": values}


def compare(generated: dict, real: dict) -> dict[str, float]:
  """The colour values of the generated counts against the real ones (each summed over
  videos: "histogram" (3, BINS), "saturated", "values")."""
  p, q = (np.asarray(c["histogram"], np.float64) for c in (generated, real))
  p = p / p.sum(axis=-1, keepdims=True)
  q = q / q.sum(axis=-1, keepdims=True)
  tv = float(np.mean(0.5 * np.abs(p - q).sum(axis=-1)))
  gen, ref = (float(c["saturated"]) / float(c["values"]) for c in (generated, real))
  return {"colour/histogram_tv": tv, "colour/saturated_generated": gen,
          "colour/saturated_real": ref, "colour/saturated_ratio": gen / max(ref, MIN_SHARE),
          "colour": tv}


def total(parts: dict) -> dict:
  """Per-video counts (``counts``) summed over the videos."""
  return {k: np.asarray(v).sum(axis=0) for k, v in parts.items()}


@register
class Colour(ClipsMetric):
  name = "colour"
  best_mode = "min"
  compares_with_real = True
  table_rank = 3  # after grounding, the I3D metrics and PSD

  def check(self, e, level):
    validation.check(e.clip_frames >= 1, f"config.eval.clip_frames: at least 1, got "
                     f"{e.clip_frames}")
    validation.check(e.num_clips >= 1, f"config.eval.num_clips: at least 1, got "
                     f"{e.num_clips}")

  def fit(self, s, available: int, where: str, longer) -> dict:
    """ConfigError for real clips shorter than clip_frames (shared with the I3D metrics:
    not cut here, which would change theirs)."""
    if s.clip_frames > available:
      raise validation.ConfigError(
          f"{where}: colour histograms of clips of {s.clip_frames} frames, but its "
          f"prepared clips give {available} frames: evaluate with "
          f"--clip_frames={available} (config.eval.clip_frames when training), or "
          f"{longer(s.clip_frames)}")
    return {}

  def real(self, real_clips):
    s = real_clips.settings
    return real_clips.statistics("colour", "Colour histograms", counts, num=s.num_clips,
                                 frames=(s.clip_frames,))

  def start(self, s, levels):
    del levels
    return {"num": s.num_clips, "frames": s.clip_frames,
            "counts": {"histogram": np.zeros((CHANNELS, BINS), np.int64), "saturated": 0,
                       "values": 0}}

  def update(self, state, batch):
    n = state["num"] - batch.start
    if n <= 0:
      return
    part = total(counts(batch.top[:n, :state["frames"]]))
    for k, v in part.items():
      state["counts"][k] = state["counts"][k] + v

  def result(self, state, ctx):
    return compare(state["counts"], total(ctx.real))

  def table(self, group, m, s, levels):
    if "colour/histogram_tv" not in m:
      return []
    return [f"  colour: histogram TV {m['colour/histogram_tv']:.3f}, saturated "
            f"{m['colour/saturated_generated']:.1%} (real {m['colour/saturated_real']:.1%})"]
