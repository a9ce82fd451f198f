"""PSD: radially averaged power spectra of chosen frames (HVG appendix D), generated and
real, over ``psd_videos`` videos in ``psd_sets`` sets; ``psd/frame_<f>_log_distance`` per
frame, the curves plotted (psd.png) and kept (psd.npz)."""

import logging

import numpy as np

from hvg_jax import config_lib, files
from hvg_jax.config_lib import validation
from hvg_jax.eval import psd as psd_lib
from hvg_jax.eval.metrics.registry import register
from hvg_jax.eval.metrics.base import Metric


def _default_frames() -> tuple:
  return tuple(config_lib.base_config().eval.psd_frames)


@register
class PSD(Metric):
  name = "psd"
  fields = ("psd_frames", "psd_videos", "psd_sets")
  table_rank = 2

  def check(self, e, level):
    validation.check(len(e.psd_frames) >= 1 and min(e.psd_frames) >= 1,
                     f"config.eval.psd_frames: 1-based frame indices, got "
                     f"{tuple(e.psd_frames)}")
    validation.check(1 <= e.psd_sets <= e.psd_videos, f"config.eval.psd_sets: between 1 "
                     f"and psd_videos={e.psd_videos}, got {e.psd_sets}")

  def canonical(self, values):
    return {"psd_frames": tuple(int(f) for f in values["psd_frames"])}

  def frames(self, s):
    return max(s.psd_frames)

  def videos(self, s):
    return s.psd_videos

  def real_frames(self, s):
    return max(s.psd_frames)

  def data_frames(self, s):
    # The default frames are cut to the clips there are (fit).
    return max(s.psd_frames) if s.psd_frames != _default_frames() else 0

  def fit(self, s, available: int, where: str, longer) -> dict:
    """The default frames cut to real clips of ``available`` frames (logged); ConfigError
    for frames chosen beyond them."""
    if max(s.psd_frames) <= available:
      return {}
    fit = tuple(f for f in s.psd_frames if f < available) + (available,)
    if s.psd_frames != _default_frames():
      raise validation.ConfigError(
          f"{where}: PSD of frames {','.join(map(str, s.psd_frames))}, but its prepared "
          f"clips give {available} frames: evaluate with "
          f"--psd_frames={','.join(map(str, fit))}, or {longer(max(s.psd_frames))}")
    logging.info("%s: PSD of frames %s, the default frames that fit the %d frames of its "
                 "prepared clips (--psd_frames to choose others; %s).", where,
                 ",".join(map(str, fit)), available, longer(max(s.psd_frames)))
    return {"psd_frames": fit}

  def real(self, real_clips):
    s = real_clips.settings
    return real_clips.statistics("psd", "PSD", lambda v: psd_lib.video_spectra(
        v, s.psd_frames), num=s.psd_videos, frames=s.psd_frames)

  def start(self, s, levels):
    return _State(s)

  def update(self, state, batch):
    s = state.settings
    if batch.start < s.psd_videos:
      state.spectra.append(psd_lib.video_spectra(batch.top[:s.psd_videos - batch.start],
                                                 s.psd_frames))

  def result(self, state, ctx):
    s = ctx.settings
    gen = {k: np.concatenate([p[k] for p in state.spectra]) for k in state.spectra[0]}
    state.curves = {
        "generated": {k: psd_lib.over_sets(v, s.psd_sets) for k, v in gen.items()},
        "real": {k: psd_lib.over_sets(v, s.psd_sets) for k, v in ctx.real.items()}}
    return {f"psd/{k}_log_distance": psd_lib.log_distance(
        state.curves["generated"][k][0], state.curves["real"][k][0])
            for k in state.curves["generated"] if k in state.curves["real"]}

  def extra(self, state, ctx):
    return state.curves

  def write(self, output, extra, *, settings, levels):
    psd_lib.plot(output / "psd.png", extra["generated"], extra.get("real"),
                 title=f"{levels[-1].config.name}: PSD, mean ± std over "
                       f"{settings.psd_sets} sets of "
                       f"{settings.psd_videos // settings.psd_sets}")
    with files.atomic(output / "psd.npz") as f:
      np.savez(f, **{f"{side}/{k}/{stat}": v[i] for side, curves in extra.items()
                     for k, v in curves.items() for i, stat in enumerate(("mean", "std"))})

  def table(self, group, m, s, levels):
    lines = [f"{k.split('/')[1]} {v:.3f}" for k, v in m.items() if k.startswith("psd/")]
    return [f"  PSD log distance: {', '.join(lines)}"] if lines else []


class _State:
  def __init__(self, s):
    self.settings = s
    self.spectra = []
    self.curves = None
