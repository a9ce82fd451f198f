"""The papers' views of a video, on (B, T, H, W, C) arrays.

x^{l-1} = f_s(f_t(x^l)): f_t keeps every k-th frame, f_s averages k x k blocks (bilinear
downsampling by factors of 2, repeated). The upsampling generator goes the other way with
nearest neighbours: frames repeated in time, and the low-resolution residuals resized to
each block's size.
"""


def subsample_frames(video, factor: int):
  """f_t: keeps frames 0, k, 2k, ... (temporal subsampling by ``factor``)."""
  return video[:, ::factor]


def downsample_frames(video, size: int):
  """f_s: every frame (..., H, W, C) averaged over k x k blocks to size x size, k = H / size.

  The one spatial resampler between levels: each level's real frames are f_s of the same
  raw frames (hvg_jax.data.pipeline), and D_M's real pairs take it too. It is bilinear
  downsampling as the papers say, repeated: at 2x, bilinear interpolation with half-pixel
  centres is exactly the 2x2 average, and averages compose (f_s to 16 px of f_s to 32 px is
  f_s to 16 px), which is what makes every level's real view the view of the level above
  it. Works on NumPy and JAX arrays; uint8 input gives float32 (unrounded).
  """
  *lead, height, width, channels = video.shape
  if height % size or width % size or height // size != width // size:
    raise ValueError(f"cannot average {height}x{width} frames down to {size}x{size}: the "
                     "factor must be a whole number, the same on both axes")
  if video.dtype not in ("float32", "float64", "bfloat16", "float16"):
    video = video.astype("float32")
  if height == size:
    return video
  k = height // size
  blocks = video.reshape(*lead, size, k, size, k, channels)
  return blocks.mean(axis=(-4, -2)).astype(video.dtype)


def downsample_video(video, frame_factor: int, size: int):
  """f_s(f_t(video)): the next level down's view of a video."""
  return downsample_frames(subsample_frames(video, frame_factor), size)


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
