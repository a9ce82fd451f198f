"""The built-in demo data set: procedural videos of coloured shapes bouncing over textures.

Video ``i`` of a seed is always the same video, rendered analytically at whatever size and
length is asked for, so every level of a chain sees consistent views of it. The label is
the shape's kind. It is a random-access source (``len``, ``[i]``), the same interface as
the prepared real data sets (``tfds.data_source``), so one input pipeline serves both.
"""

import numpy as np

SHAPES = ("circle", "square", "triangle", "cross")
COLOURS = ((1.0, 0.3, 0.25), (0.35, 1.0, 0.3), (0.35, 0.55, 1.0), (1.0, 0.95, 0.3))  # bright


def _fold(x, low, high):
  """Position of a point moving freely along x, bouncing between low and high."""
  span = high - low
  y = np.mod(x - low, 2 * span)
  return low + np.where(y > span, 2 * span - y, y)


def _mask(shape: str, dx, dy, r):
  """Which points (dx, dy from the shape's centre; broadcast) the shape covers; all lie
  within 1.1 r of the centre on each axis."""
  if shape == "circle":
    return dx**2 + dy**2 <= r**2
  if shape == "square":
    return np.maximum(np.abs(dx), np.abs(dy)) <= 0.8 * r
  if shape == "triangle":
    return (dy <= 0.7 * r) & (np.abs(dx) <= 0.6 * (dy + r))
  arm = r / 3
  return ((np.abs(dx) <= arm) & (np.abs(dy) <= r)) | ((np.abs(dy) <= arm) & (np.abs(dx) <= r))


class DemoVideos:
  """Random-access source of {"video": uint8 (T, H, W, 3), "label": int32} examples.

  Args:
    num_videos: size of the data set.
    frames: raw frames per video (levels take strided runs of them).
    height, width: frame size in pixels; the scene is defined in units of the height, so
      other sizes render the same video.
    seed: which data set.
    split: "train" or another name (e.g. "test"): disjoint videos of the same data set.
    num_classes: how many of SHAPES appear (labels 0 .. num_classes-1); 0 for an
      unconditional data set (any shape, label 0).
  """

  def __init__(self, *, num_videos: int = 4096, frames: int = 32, height: int = 32,
               width: int | None = None, seed: int = 0, split: str = "train",
               num_classes: int = len(SHAPES)):
    if not 0 <= num_classes <= len(SHAPES):
      raise ValueError(f"the demo data has 0 (unconditional) to {len(SHAPES)} classes, got "
                       f"{num_classes}")
    self.num_videos = num_videos
    self.frames = frames
    self.height = height
    self.width = width or (height * 5) // 4  # wider than high: exercises the crop
    self.seed = seed
    self.split_id = int.from_bytes(split.encode()[:8], "little")
    self.num_classes = num_classes

  def __len__(self):
    return self.num_videos

  def __getitem__(self, index):
    if not 0 <= index < self.num_videos:
      raise IndexError(f"demo video {index} of {self.num_videos}")
    rng = np.random.default_rng([self.seed, self.split_id, index])
    kind = int(rng.integers(self.num_classes or len(SHAPES)))
    aspect = self.width / self.height
    # Supersampled pixel centres (2x2 per pixel) in scene units: y in [0, 1], x in [0, aspect].
    ss = 2
    ys = (np.arange(self.height * ss) + 0.5) / (self.height * ss)
    xs = (np.arange(self.width * ss) + 0.5) / (self.height * ss)
    y, x = ys[:, None], xs[None, :]

    # Background: two colours mixed by a broad oriented grating (a texture a small generator
    # learns in minutes, legible at 16 px).
    c1, c2 = rng.uniform(0.05, 0.45, 3), rng.uniform(0.3, 0.75, 3)
    angle, freq, phase = rng.uniform(0, np.pi), rng.uniform(0.7, 1.8), rng.uniform(0, 2 * np.pi)
    mix = 0.5 + 0.5 * np.sin(2 * np.pi * freq * (x * np.cos(angle) + y * np.sin(angle)) + phase)
    background = c1 * (1 - mix[..., None]) + c2 * mix[..., None]

    # The shape: size, colour (its kind's, varied), start and velocity (scene units per raw
    # frame); it bounces off the edges.
    r = rng.uniform(0.2, 0.28)
    colour = np.clip(np.asarray(COLOURS[kind]) + rng.uniform(-0.15, 0.15, 3), 0.0, 1.0)
    speed, heading = rng.uniform(0.035, 0.06), rng.uniform(0, 2 * np.pi)
    t = np.arange(self.frames)
    px = _fold(rng.uniform(r, aspect - r) + speed * np.cos(heading) * t, r, aspect - r)
    py = _fold(rng.uniform(r, 1 - r) + speed * np.sin(heading) * t, r, 1 - r)
    # Each frame: the background averaged over its supersamples (anti-aliased), then the
    # shape drawn and averaged inside its bounding box only (in whole pixels).
    background = background.astype(np.float32)
    h, w = self.height, self.width
    flat = background.reshape(h, ss, w, ss, 3).mean(axis=(1, 3))
    video = np.repeat(flat[None], self.frames, axis=0)
    colour = colour.astype(np.float32)
    for i in range(self.frames):
      top, left = (int(max(0.0, (c - 1.1 * r) * h)) for c in (py[i], px[i]))
      bottom, right = (min(n, int((c + 1.1 * r) * h) + 1) for c, n in ((py[i], h), (px[i], w)))
      rows, cols = slice(top * ss, bottom * ss), slice(left * ss, right * ss)
      patch = np.where(_mask(SHAPES[kind], x[:, cols] - px[i], y[rows] - py[i], r)[..., None],
                       colour, background[rows, cols])
      video[i, top:bottom, left:right] = patch.reshape(
          bottom - top, ss, right - left, ss, 3).mean(axis=(1, 3))
    label = kind if self.num_classes else 0
    return {"video": np.round(video * 255).astype(np.uint8), "label": np.int32(label)}
