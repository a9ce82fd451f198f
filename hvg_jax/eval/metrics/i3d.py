"""What the I3D metrics (FVD, FID, IS) share: one I3D pass over the first ``clip_frames``
frames of ``num_clips`` generated and real clips, its checks, its table line, and the
per-class Fréchet distances."""

import logging

from hvg_jax.config_lib import validation
from hvg_jax.eval import frechet
from hvg_jax.eval.metrics.base import ClipsMetric

I3D_MIN_FRAMES = 9  # I3D's temporal downsampling leaves no frame of a shorter clip
MIN_PER_CLASS = 2  # clips of a class on each side for a per-class Fréchet distance


class I3DMetric(ClipsMetric):
  """A metric of I3D's embeddings (the evaluator's shared pass: Context.i3d)."""
  needs_i3d = True
  compares_with_real = True  # the generated clips' embeddings against the real ones'
  table_rank = 1
  table_group = "i3d"

  def check(self, e, level):
    validation.check(e.clip_frames >= I3D_MIN_FRAMES, f"config.eval.clip_frames: I3D "
                     f"needs at least {I3D_MIN_FRAMES} frames, got {e.clip_frames}")
    validation.check(e.num_clips >= 2, f"config.eval.num_clips: at least 2, got "
                     f"{e.num_clips}")

  def fit(self, s, available: int, where: str, longer) -> dict:
    """Settings updates for real clips of ``available`` frames, or ConfigError."""
    if s.clip_frames > available:
      shorter = (f"evaluate with --clip_frames={available} (config.eval.clip_frames when "
                 f"training), or " if available >= I3D_MIN_FRAMES else "")
      raise validation.ConfigError(
          f"{where}: FVD, FID and IS on clips of {s.clip_frames} frames, but its prepared "
          f"clips give {available} frames: {shorter}{longer(s.clip_frames)}")
    return {}

  def table(self, group, m, s, levels):
    i3d = [f"{x.name.upper()} {m[x.name]:.4g}" for x in group if x.name in m]
    if not i3d:
      return []
    return [f"  level {len(levels)}: {', '.join(i3d)} ({s.num_clips} clips of "
            f"{s.clip_frames} frames)"]


def per_class(gen_logits, gen_features, gen_labels, real) -> dict:
  """{class: {fvd, fid, generated, real}} of the classes with MIN_PER_CLASS clips on each
  side."""
  out = {}
  for c in sorted(set(gen_labels.tolist()) & set(real["labels"].tolist())):
    g, r = gen_labels == c, real["labels"] == c
    if g.sum() < MIN_PER_CLASS or r.sum() < MIN_PER_CLASS:
      continue
    out[int(c)] = {
        "fvd": frechet.distance(frechet.fit(gen_logits[g]), frechet.fit(real["logits"][r])),
        "fid": frechet.distance(frechet.fit(gen_features[g]),
                                frechet.fit(real["features"][r])),
        "generated": int(g.sum()), "real": int(r.sum())}
  return out


def log_unconditional(name: str, levels):
  if not levels[0].shapes.num_classes:
    logging.info("%s of an unconditional chain: computed, though the papers report it "
                 "only for class-conditional data sets.", name)
