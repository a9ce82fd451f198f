"""Real clips for evaluation, and their statistics cached on disk.

The clips are a level's view of its data set (a run of frames at its stride, a square crop,
its resolution), chosen by ``eval.seed``: the same clips every time. Their I3D embeddings
and PSD spectra are computed once per data set, split, clip setting and I3D weights file,
and kept in ``eval.cache_dir``.
"""

import hashlib
import json
import logging
import os

import grain
import jax
import ml_collections
import numpy as np
from etils import epath
from jax.experimental import multihost_utils
from tqdm import tqdm

from hvg_jax import config_lib, files
from hvg_jax.data import pipeline


VIEW = "f_s=box"  # how a level views its data (pipeline.view): cached statistics depend on it


def clips(config: ml_collections.ConfigDict, *, split: str, num: int, frames: int,
          seed: int, batch: int):
  """Batches of (uint8 clips (B, frames, R, R, 3), labels (B,)) of ``num`` real clips."""
  shapes = config_lib.level_shapes(config)
  source = pipeline.get_source(config, split, frames=frames)
  spec = pipeline.ClipSpec(frames=frames, stride=config.data.subsample,
                           resolution=shapes.resolution)
  ds = grain.MapDataset.source(source).seed(seed).shuffle().repeat()
  ds = ds.random_map(lambda ex, rng: pipeline.take_clip(ex, rng, spec))[:num]
  ds = ds.batch(batch, drop_remainder=False)
  options = grain.ReadOptions(num_threads=config.data.num_threads,
                              prefetch_buffer_size=config.data.prefetch)
  for b in ds.to_iter_dataset(options):
    yield np.asarray(b["video"], np.uint8), np.asarray(b["label"], np.int32)


def cache_dir(configured: str) -> epath.Path:
  return epath.Path(os.path.expanduser(configured or "~/.cache/hvg_jax"))


def cached(directory, description: dict, compute, name: str = "") -> dict[str, np.ndarray]:
  """The arrays ``compute()`` returns, from a file in ``directory`` keyed by
  ``description`` (data set, split, clip setting, ...) when an earlier run saved them.
  ``name`` starts the file's name (default: the description's kind, data and split).

  What is read back is checked: a file that cannot be read (truncated, damaged), that was
  written for another description (another folder's statistics under this name), or whose
  arrays are not the number of clips asked for is a warning naming it, then computed
  again and replaced (atomically: a file is whole or absent)."""
  key = hashlib.sha256(json.dumps(description, sort_keys=True).encode()).hexdigest()[:16]
  name = name or "_".join(str(description[k]) for k in ("kind", "data", "split"))
  path = epath.Path(directory) / f"{name}_{key}.npz"
  arrays = _load(path, description) if path.exists() else None
  if jax.process_count() > 1:  # one decision for all (computing runs collectives): load
    # only if every process read the file (cache_dir may be local to each host)
    if not np.min(multihost_utils.process_allgather(np.int32(arrays is not None))):
      arrays = None
  if arrays is not None:
    logging.info("Real-data statistics from %s", path)
    return arrays
  arrays = compute()
  try:  # every process writes (the same arrays): cache_dir may be local to each host
    with files.atomic(path) as f:  # whole files only
      np.savez(f, description=json.dumps(description), **arrays)
    logging.info("Saved real-data statistics in %s", path)
  except files.WriteError as e:
    logging.warning("Could not cache real-data statistics (%s); set eval.cache_dir "
                    "(--cache_dir) to a writable directory.", e)
  return arrays


def _load(path, description: dict) -> dict[str, np.ndarray] | None:
  """The arrays of the cache file ``path`` if it reads whole and was written for
  ``description``; None, with a warning saying why, otherwise."""
  try:
    with path.open("rb") as f, np.load(f) as npz:
      stored = json.loads(str(npz["description"]))
      arrays = {k: npz[k] for k in npz.files if k != "description"}
  except Exception as e:  # pylint: disable=broad-except
    # A damaged file fails in many ways (BadZipFile, EOFError, ValueError, KeyError, ...).
    reason = f"it cannot be read ({type(e).__name__}: {' '.join(str(e).split())[:200]})"
  else:
    asked = json.loads(json.dumps(description))  # as stored: tuples become lists
    differ = sorted(k for k in set(stored) | set(asked) if stored.get(k) != asked.get(k))
    counts = {len(v) for v in arrays.values() if v.ndim}
    if differ:
      reason = "it was written for other settings (" + "; ".join(
          f"{k}: {stored.get(k)!r}, asked {asked.get(k)!r}" for k in differ) + ")"
    elif len(counts) != 1 or not _count_fits(counts.pop(), asked):
      reason = "its arrays do not hold the clips asked for"
    else:
      return arrays
  logging.warning("Ignoring the cached real-data statistics %s: %s. Computing them again; "
                  "the file is replaced.", path, reason)
  return None


def _count_fits(count: int, description: dict) -> bool:
  """Whether ``count`` clips are what ``description`` asks for: exactly ``num``, or up to
  ``num_clips`` of a folder (0: all; unusable files are skipped)."""
  if "num" in description:
    return count == description["num"]
  if description.get("num_clips"):
    return 0 < count <= description["num_clips"]
  return count > 0


def describe(config: ml_collections.ConfigDict, split: str, *, frames, **settings) -> dict:
  """What real-data statistics depend on: the data set as the level sees it (its prepared
  version for runs of ``frames`` frames), and ``settings`` (clip count, seed, weights, ...)."""
  d = config.data
  raw = d.get("raw_resolution", 0) or d.resolution
  data = d.name if d.name != "demo" else f"demo{d.num_videos}s{d.seed}c{d.num_classes}r{raw}"
  length = max(frames) if isinstance(frames, (list, tuple)) else frames
  return dict(data=data, storage=pipeline.storage(config, length), dir=str(d.dir),
              split=split, resolution=d.resolution, subsample=d.subsample, view=VIEW,
              frames=frames, **settings)


def embeddings(config, embedder, *, split: str, num: int, frames: int, seed: int,
               batch: int, weights_id: str, directory, progress: bool = True) -> dict:
  """{"logits", "features", "labels"} of ``num`` real clips (cached)."""
  description = describe(config, split, kind="i3d", num=num, frames=frames, seed=seed,
                         weights=weights_id)

  def compute():
    out = {"logits": [], "features": [], "labels": []}
    with tqdm(total=num, desc=f"I3D on real clips ({split})", disable=not progress,
              leave=False) as bar:
      for videos, labels in clips(config, split=split, num=num, frames=frames, seed=seed,
                                  batch=batch):
        e = embedder(videos)
        out["logits"].append(e["logits"])
        out["features"].append(e["features"])
        out["labels"].append(labels)
        bar.update(len(videos))
    return {k: np.concatenate(v) for k, v in out.items()}

  return cached(directory, description, compute)


def statistics(config, fn, *, kind: str, label: str, split: str, num: int, frames: tuple,
               seed: int, batch: int, directory, progress: bool = True) -> dict:
  """{name: (num, ...)} arrays ``fn`` makes of batches of ``num`` real clips of
  ``max(frames)`` frames, concatenated (cached under ``kind``; ``label`` names it in the
  progress bar)."""
  length = max(frames)
  description = describe(config, split, kind=kind, num=num, frames=list(frames), seed=seed)

  def compute():
    parts = []
    with tqdm(total=num, desc=f"{label} of real clips ({split})", disable=not progress,
              leave=False) as bar:
      for videos, _ in clips(config, split=split, num=num, frames=length, seed=seed,
                             batch=batch):
        parts.append(fn(videos))
        bar.update(len(videos))
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

  return cached(directory, description, compute)
