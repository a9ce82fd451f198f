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
  """A random run of frames at the stride, a random square crop, the level's view."""
  video = np.asarray(example["video"])
  t, h, w = video.shape[:3]
  if t < spec.span:
    raise ValueError(f"a video of {t} frames is too short for a clip of {spec.frames} frames "
                     f"at stride {spec.stride} (config.data.subsample): {spec.span} needed")
  start = rng.integers(t - spec.span + 1)
  side = min(h, w)
  top, left = rng.integers(h - side + 1), rng.integers(w - side + 1)
  clip = video[start:start + spec.span:spec.stride, top:top + side, left:left + side]
  return {"video": view(clip, spec.resolution), "label": np.int32(example["label"])}


def get_source(config: ml_collections.ConfigDict, split: str = "train",
               frames: int | None = None):
  """The random-access source named by ``config.data.name``, checked to hold runs of
  ``frames`` frames at the level's stride (default: its training runs)."""
  d = config.data
  if d.name == "demo":
    # Rendered at the chain's raw size (every level views the same frames); a level's
    # whole video spans about frames * subsample raw frames, the same at every level.
    length = max(frames or 0, d.frames)
    return DemoVideos(num_videos=d.num_videos, frames=length * d.subsample + d.subsample,
                      height=d.get("raw_resolution", 0) or d.resolution, seed=d.seed,
                      split=split, num_classes=d.num_classes)
  if d.name not in datasets.BUILDERS:
    raise config_lib.ConfigError(
        f"config.data.name: no data set {d.name!r}; 'demo' is built in, and "
        f"{sorted(datasets.BUILDERS)} are read once prepared by hvg_jax.prepare_data")
  shapes = config_lib.level_shapes(config)
  frames = frames or shapes.train_frames
  span = ClipSpec(frames, d.subsample, shapes.resolution).span
  try:
    source, meta = datasets.load_source(d.name, d.dir, d.storage, split,
                                        size=shapes.resolution, clip_frames=span)
  except datasets.NotPreparedError as e:
    raise config_lib.ConfigError(str(e)) from None
  if meta["clip_frames"] < span:
    raise config_lib.ConfigError(
        f"config.data: {config.name} takes runs of {frames} frames at stride "
        f"{d.subsample} ({span} stored frames), but {d.name} was prepared in clips of "
        f"{meta['clip_frames']}; prepare it again with --clip_frames={span} or more")
  if meta["size"] < shapes.resolution:
    raise config_lib.ConfigError(
        f"config.data.resolution: {shapes.resolution} px is more than the {meta['size']} px "
        f"{d.name} was prepared at; prepare it again with --size={shapes.resolution}")
  classes = len(meta["classes"])
  if d.num_classes and d.num_classes != classes:
    raise config_lib.ConfigError(
        f"config.data.num_classes: {d.num_classes}, but {d.name} as prepared has {classes} "
        "classes")
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
                  resolution=shapes.resolution)
  ds = grain.MapDataset.source(source).seed(config.data.seed).shuffle().repeat()
  ds = ds.random_map(lambda ex, rng: take_clip(ex, rng, spec))
  ds = ds.batch(t.batch_size // process_count, drop_remainder=True)
  ds = ds.slice(slice(process_index, None, process_count))
  return ds.batch(t.d_steps)


def iterate(dataset: grain.MapDataset, start: int, *, num_threads: int, prefetch: int):
  """An iterator over ``dataset`` from iteration ``start`` on, read ahead by threads."""
  options = grain.ReadOptions(num_threads=num_threads, prefetch_buffer_size=prefetch)
  return iter(dataset.slice(slice(start, None)).to_iter_dataset(options))
