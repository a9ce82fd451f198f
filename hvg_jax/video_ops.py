"""The papers' views of a video, on (B, T, H, W, C) arrays.

x^{l-1} = f_s(f_t(x^l)): f_t keeps every k-th frame, f_s is a bilinear spatial
downsampling. The upsampling generator goes the other way with nearest neighbours: frames
repeated in time, and the low-resolution residuals resized to each block's size.
"""

import jax


def subsample_frames(video, factor: int):
  """f_t: keeps frames 0, k, 2k, ... (temporal subsampling by ``factor``)."""
  return video[:, ::factor]


def resize_bilinear(video, size: int):
  """f_s: bilinear resize of every frame to size x size.

  jax.image.resize antialiases when it downsamples (its triangle filter widens with the
  factor), so a 4x reduction averages the whole footprint instead of aliasing; for 2x it is
  close to a 2x2 average. The papers only say "bilinear".
  """
  b, t, _, _, c = video.shape
  return jax.image.resize(video, (b, t, size, size, c), method="bilinear",
                          antialias=True).astype(video.dtype)


def downsample_video(video, frame_factor: int, size: int):
  """f_s(f_t(video)): the next level down's view of a video."""
  return resize_bilinear(subsample_frames(video, frame_factor), size)


def repeat_frames(video, factor: int):
  """Nearest-neighbour temporal upsampling: frame i becomes frames i*k .. i*k + k-1."""
  return video.repeat(factor, axis=1)


def downsample_nearest(video, size: int):
  """Nearest-neighbour spatial downsampling by an integer factor (half-pixel centres)."""
  height = video.shape[2]
  if height == size:
    return video
  if height % size:
    raise ValueError(f"cannot nearest-downsample {height} px to {size} px: not a divisor")
  factor = height // size
  start = factor // 2
  return video[:, :, start::factor, start::factor]
