"""Writing generated videos: grids, GIF and MP4 files, and TensorBoard frame strips."""

import contextlib
import pathlib
import shutil
import tempfile
import warnings

import imageio.v3 as iio
import imageio_ffmpeg
import numpy as np
from etils import epath


def to_uint8(videos) -> np.ndarray:
  """Videos in [-1, 1] (any leading axes, channels last) -> uint8."""
  v = (np.asarray(videos, np.float32) + 1.0) * 127.5
  return np.clip(np.round(v), 0, 255).astype(np.uint8)


def grid(videos: np.ndarray, columns: int, pad: int = 1) -> np.ndarray:
  """(N, T, H, W, C) uint8 -> (T, rows*(H+pad)-pad, cols*(W+pad)-pad, C): one video of all."""
  n, t, h, w, c = videos.shape
  rows = -(-n // columns)
  out = np.full((t, rows * (h + pad) - pad, columns * (w + pad) - pad, c), 255, np.uint8)
  for i in range(n):
    r, col = divmod(i, columns)
    out[:, r * (h + pad):r * (h + pad) + h, col * (w + pad):col * (w + pad) + w] = videos[i]
  return out


def frame_strip(videos: np.ndarray, pad: int = 1) -> np.ndarray:
  """(N, T, H, W, C) uint8 -> one image, a row per video and a column per frame
  (TensorBoard shows images, not videos)."""
  return grid(videos.reshape((-1, 1) + videos.shape[2:]), columns=videos.shape[1],
              pad=pad)[0]


def write_gif(path, frames: np.ndarray, fps: float = 8.0):
  """(T, H, W, 3) uint8 -> looping GIF."""
  # Encoded in memory, then written: a failed write (a full disk) is a plain OSError, with
  # no half-closed encoder left to fail again at interpreter shutdown.
  data = iio.imwrite("<bytes>", frames, extension=".gif", duration=1000.0 / fps, loop=0)
  epath.Path(path).write_bytes(data)


class Mp4Writer:
  """An H.264 MP4 written frame by frame (with the ffmpeg that imageio-ffmpeg ships): a
  long video never has to be in memory whole."""

  def __init__(self, path, height: int, width: int, fps: float = 8.0):
    # yuv420p needs even sizes: frames get one row / column of the edge where needed.
    self._pad = ((0, height % 2), (0, width % 2), (0, 0))
    self._writer = imageio_ffmpeg.write_frames(
        str(path), (width + width % 2, height + height % 2), fps=fps, codec="libx264",
        pix_fmt_out="yuv420p", macro_block_size=1, quality=8,
        output_params=["-loglevel", "error"])
    with warnings.catch_warnings():
      # JAX warns on any fork; ffmpeg starts with fork+exec and no Python code in between
      # (hvg_jax/__init__.py), which is safe.
      warnings.filterwarnings("ignore", message=".*fork.*")
      self._writer.send(None)

  def write(self, frames: np.ndarray):
    """(T, H, W, 3) uint8 frames, appended."""
    for frame in frames:
      self._writer.send(np.ascontiguousarray(np.pad(frame, self._pad, mode="edge")))

  def close(self):
    self._writer.close()


def write_mp4(path, frames: np.ndarray, fps: float = 8.0):
  """(T, H, W, 3) uint8 -> H.264 MP4."""
  writer = Mp4Writer(path, frames.shape[1], frames.shape[2], fps)
  writer.write(frames)
  writer.close()


@contextlib.contextmanager
def local_dir(output):
  """A local directory to write files into: ``output`` itself, or (e.g. gs://) a temporary
  one whose files are copied there at the end (the encoders write local files)."""
  if "://" not in str(output):
    pathlib.Path(output).mkdir(parents=True, exist_ok=True)
    yield pathlib.Path(output)
    return
  with tempfile.TemporaryDirectory() as tmp:
    yield pathlib.Path(tmp)
    for f in pathlib.Path(tmp).iterdir():
      with f.open("rb") as src, (epath.Path(output) / f.name).open("wb") as dst:
        shutil.copyfileobj(src, dst)


def write_video_files(stem, frames: np.ndarray, fps: float = 8.0) -> list[epath.Path]:
  """Writes ``stem``.gif and ``stem``.mp4 (local or e.g. gs:// paths); returns them."""
  stem = epath.Path(stem)
  stem.parent.mkdir(parents=True, exist_ok=True)
  with local_dir(stem.parent) as local:
    write_gif(local / f"{stem.name}.gif", frames, fps)
    write_mp4(local / f"{stem.name}.mp4", frames, fps)
  return [stem.parent / f"{stem.name}{suffix}" for suffix in (".gif", ".mp4")]
