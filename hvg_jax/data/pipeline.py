"""The training input pipeline of a level (grain over a random-access source).

Every data set is a random-access source of {"video": uint8 (T, H, W, 3), "label": int}
examples: the demo source, or a prepared real data set. A level's view of an example is a
random run of ``frames`` consecutive frames at the level's stride, a random square crop of
the longer side, then f_s (video_ops.downsample_frames) of it to the level's resolution;
for an upsampling level the training step derives the low-resolution half of the
(x^l, f_s(f_t(x^l))) pair on device with the same f_s, so a real pair's low half is the
level below's real view of the same clip.

The order is a pure function of (seed, iteration): the shuffled, repeated examples are
grouped into process batches, process p takes every P-th of them (so the global batch is
the same whatever the number of processes), and d_steps of them make one iteration's input.
Resuming at iteration s reads from s on: nothing else needs saving.
"""

import dataclasses

import grain
import ml_collections
import numpy as np
from PIL import Image

from hvg_jax import config_lib, video_ops
from hvg_jax.data import datasets
from hvg_jax.data.demo import DemoVideos


@dataclasses.dataclass(frozen=True)
class ClipSpec:
  """What a level takes from one raw video."""
  frames: int
  stride: int
  resolution: int
  flip: bool = False  # mirrored left-right with probability 1/2 (config.data.flip)

  @property
  def span(self) -> int:
    return (self.frames - 1) * self.stride + 1


def raw_size(side: int, resolution: int) -> int:
  """The chain's raw frame size for a square crop of ``side`` pixels: the largest
  resolution * 2^k that fits. Every level of a chain (resolutions resolution / 2^j) gets
  the same raw size from the same stored frames."""
  size = resolution
  while size * 2 <= side:
    size *= 2
  return size


def view(clip: np.ndarray, resolution: int) -> np.ndarray:
  """A level's view of square uint8 frames (T, S, S, 3): f_s (video_ops.downsample_frames)
  of the raw frames, so that f_s(f_t(view at level l)) is the view at level l - 1 (to
  uint8 rounding). Frames whose size is not resolution * 2^k are first resized to the raw
  size (Pillow's bilinear, which widens its filter when it shrinks)."""
  side = clip.shape[1]
  raw = raw_size(side, resolution)
  if raw != side:
    clip = np.stack([np.asarray(Image.fromarray(f).resize((raw, raw), Image.BILINEAR))
                     for f in clip])
  if raw == resolution:
    return clip
  return np.round(video_ops.downsample_frames(clip, resolution)).astype(np.uint8)


def take_clip(example: dict, rng: np.random.Generator, spec: ClipSpec) -> dict:
  """A random run of frames at the stride, a random square crop (mirrored at random with
  ``spec.flip``), the level's view."""
  video = np.asarray(example["video"])
  t, h, w = video.shape[:3]
  if t < spec.span:
    raise ValueError(f"a video of {t} frames is too short for a clip of {spec.frames} frames "
                     f"at stride {spec.stride} (config.data.subsample): {spec.span} needed")
  start = rng.integers(t - spec.span + 1)
  side = min(h, w)
  top, left = rng.integers(h - side + 1), rng.integers(w - side + 1)
  clip = video[start:start + spec.span:spec.stride, top:top + side, left:left + side]
  if spec.flip and rng.random() < 0.5:  # drawn only when flipping: other runs unchanged
    clip = clip[:, :, ::-1]
  return {"video": view(clip, spec.resolution), "label": np.int32(example["label"])}


def level_label(config: ml_collections.ConfigDict) -> str:
  """How messages name a level: "level 2 (demo_level2)"."""
  return f"level {config.level} ({config.name})" if config.name else f"level {config.level}"


def prepare_command(config: ml_collections.ConfigDict, clip_frames: int) -> str:
  """The prepare_data command that stores what this level reads (clips of ``clip_frames``
  frames at its resolution)."""
  d = config.data
  classes = " --class_from_folder" if d.name == "video_folder" and d.num_classes else ""
  return (f"python -m hvg_jax.prepare_data --dataset={d.name} --manual_dir=<your videos> "
          f"--data_dir={d.dir or '<dir>'} --size={d.resolution} --clip_frames={clip_frames}"
          f"{classes}")


def storage(config: ml_collections.ConfigDict, frames: int) -> str:
  """The prepared version a level reads runs of ``frames`` frames from: config.data.storage,
  or the only one that fits ("" for the demo)."""
  d = config.data
  if d.name == "demo":
    return ""
  clip_frames = ClipSpec(frames, d.subsample, d.resolution).span
  return d.storage or datasets.choose_storage(
      d.name, d.dir, size=d.resolution, clip_frames=clip_frames,
      classes=d.name == "video_folder" and d.num_classes > 0)


def prepared_frames(config: ml_collections.ConfigDict) -> int | None:
  """Frames at the level's stride in the longest clips prepared for it (its storage, or
  every version of its size): 0 when none; None when any length can be read (the demo)."""
  d = config.data
  if d.name == "demo":
    return None
  if d.name not in datasets.BUILDERS or not d.dir:
    return 0
  lengths = [shape[1] for name in datasets.prepared_configs(d.name, d.dir)
             if (shape := datasets.storage_shape(name)) and (not d.storage or name == d.storage)
             and shape[0] >= d.resolution]
  longest = max(lengths, default=0)
  return (longest - 1) // d.subsample + 1 if longest else 0


def get_source(config: ml_collections.ConfigDict, split: str = "train",
               frames: int | None = None, *, prepare: str | None = None):
  """The random-access source named by ``config.data.name``, checked to hold runs of
  ``frames`` frames at the level's stride (default: its training runs). The storage is the
  configured one, or the only prepared version that fits. ConfigError naming the level and
  a fix otherwise; ``prepare`` is the command the fix suggests (default: this level's)."""
  d = config.data
  if d.name == "demo":
    # Rendered at the chain's raw size (every level views the same frames); a level's
    # whole video spans about frames * subsample raw frames, the same at every level.
    length = max(frames or 0, d.frames)
    return DemoVideos(num_videos=d.num_videos, frames=length * d.subsample + d.subsample,
                      height=d.get("raw_resolution", 0) or d.resolution, seed=d.seed,
                      split=split, num_classes=d.num_classes)
  where = level_label(config)
  if d.name not in datasets.BUILDERS:
    raise config_lib.ConfigError(
        f"{where}: config.data.name: no data set {d.name!r}; 'demo' is built in, and "
        f"{sorted(datasets.BUILDERS)} are read once prepared by hvg_jax.prepare_data")
  shapes = config_lib.level_shapes(config)
  frames = frames or shapes.train_frames
  span = ClipSpec(frames, d.subsample, shapes.resolution).span
  prepare = prepare or prepare_command(config, span)
  if not d.dir:
    raise config_lib.ConfigError(
        f"{where}: config.data.dir: where the prepared {d.name} clips are; prepare them "
        f"once with: {prepare}, then pass its --data_dir as --config.data.dir")
  try:
    chosen = storage(config, frames)
    source, meta = datasets.load_source(d.name, d.dir, chosen, split)
  except datasets.NotPreparedError as e:
    raise config_lib.ConfigError(f"{where}: {e}; prepare it with: {prepare}") from None
  except datasets.StorageChoiceError as e:
    raise config_lib.ConfigError(f"{where}: {e}") from None
  if meta["clip_frames"] < span or meta["size"] < shapes.resolution:
    raise config_lib.ConfigError(
        f"{where}: config.data.storage={chosen} holds clips of {meta['clip_frames']} "
        f"frames of {meta['size']} px; this level takes runs of {frames} frames at stride "
        f"{d.subsample} ({span} stored frames) of {shapes.resolution} px: leave "
        f"config.data.storage empty to use a version that fits, or prepare one with: "
        f"{prepare}")
  classes = len(meta["classes"])
  if d.num_classes and d.num_classes != classes:
    folders = (", or prepare it again with --class_from_folder (a class per sub-folder)"
               if d.name == "video_folder" and not classes else "")
    raise config_lib.ConfigError(
        f"{where}: config.data.num_classes is {d.num_classes}, but {d.name} as prepared "
        f"({chosen}) has {classes} classes: set --config.data.num_classes={classes}"
        f"{' (unconditional)' if not classes else ''}{folders}")
  return source


def level_dataset(config: ml_collections.ConfigDict, source, *, process_index: int = 0,
                  process_count: int = 1) -> grain.MapDataset:
  """Iteration i -> this process's {"video": (d_steps, B/P, T, R, R, 3) uint8, "label"}."""
  shapes = config_lib.level_shapes(config)
  t = config.train
  if t.batch_size % process_count:
    raise config_lib.ConfigError(
        f"config.train.batch_size: {t.batch_size} does not split over {process_count} "
        "processes")
  spec = ClipSpec(frames=shapes.train_frames, stride=config.data.subsample,
                  resolution=shapes.resolution, flip=config.data.flip)
  ds = grain.MapDataset.source(source).seed(config.data.seed).shuffle().repeat()
  ds = ds.random_map(lambda ex, rng: take_clip(ex, rng, spec))
  ds = ds.batch(t.batch_size // process_count, drop_remainder=True)
  ds = ds.slice(slice(process_index, None, process_count))
  return ds.batch(t.d_steps)


def iterate(dataset: grain.MapDataset, start: int, *, num_threads: int, prefetch: int):
  """An iterator over ``dataset`` from iteration ``start`` on, read ahead by threads."""
  options = grain.ReadOptions(num_threads=num_threads, prefetch_buffer_size=prefetch)
  return iter(dataset.slice(slice(start, None)).to_iter_dataset(options))
