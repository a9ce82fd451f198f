"""Decoding video files with the ffmpeg that imageio-ffmpeg ships (no system install).

ffmpeg resizes while it decodes: the shorter side to the storage size, bilinear (SPEC 7),
and optionally resamples the frame rate, so only small frames reach Python.
"""

import logging
import subprocess

import imageio_ffmpeg
import numpy as np

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm")


# It warns that the output size differs from the source's, which is what the scale asks.
logging.getLogger("imageio_ffmpeg").setLevel(logging.ERROR)


class VideoError(ValueError):
  """A video that cannot be decoded (unreadable, truncated, or empty)."""


def probe(path) -> tuple[int, int, float, float]:
  """(width, height, frames per second, duration in seconds) of a video file (0 where the
  container does not say), or VideoError."""
  reader = imageio_ffmpeg.read_frames(str(path))
  try:
    meta = next(reader)
  except (RuntimeError, OSError, StopIteration) as e:
    raise VideoError(f"cannot read {path}: {_first_line(e)}") from None
  finally:
    reader.close()
  width, height = meta["size"]
  return width, height, float(meta.get("fps") or 0.0), float(meta.get("duration") or 0.0)


def _first_line(error) -> str:
  lines = [line for line in str(error).splitlines() if line.strip()]
  return lines[-1][:200] if lines else type(error).__name__


def _decode(path, output_params, size, max_frames=None) -> list[np.ndarray]:
  """The decoded (H, W, 3) uint8 frames of ``path`` (at most ``max_frames``)."""
  if max_frames is not None:
    output_params = [*output_params, "-frames:v", str(max_frames)]
  # ffmpeg conceals damaged frames and goes on; a file cut short ends the stream early
  # without an error, which the callers' frame counts catch.
  reader = imageio_ffmpeg.read_frames(str(path), output_params=output_params)
  try:
    meta = next(reader)
    height, width = size or meta["size"][::-1]
    return [np.frombuffer(f, np.uint8).reshape(height, width, 3) for f in reader]
  except (RuntimeError, OSError, StopIteration, ValueError, subprocess.SubprocessError) as e:
    raise VideoError(f"cannot decode {path}: {_first_line(e)}") from None
  finally:
    reader.close()


def read_first_frames(path, frames: int) -> np.ndarray:
  """The first ``frames`` frames of ``path`` at its own size, uint8 (T, H, W, 3); fewer if
  the video is shorter (GIF too: ffmpeg decodes it)."""
  decoded = _decode(path, [], None, max_frames=frames)
  if not decoded:
    raise VideoError(f"{path} has no frames")
  return np.stack(decoded)


def read_video(path, size: int, fps: float | None = None) -> np.ndarray:
  """All frames of ``path`` as uint8 (T, H, W, 3), the shorter side resized to ``size``
  (bilinear), at ``fps`` frames per second (None: the native rate)."""
  width, height, native_fps, duration = probe(path)
  if width <= height:
    out_w, out_h = size, max(2, round(height * size / width / 2) * 2)
  else:
    out_w, out_h = max(2, round(width * size / height / 2) * 2), size
  filters = ([f"fps={fps}"] if fps else []) + [f"scale={out_w}:{out_h}:flags=bilinear"]
  frames = _decode(path, ["-vf", ",".join(filters)], (out_h, out_w))
  if not frames:
    raise VideoError(f"{path} has no frames")
  # A truncated file decodes without error up to where it ends: compare with its header.
  expected = duration * (fps or native_fps)
  if len(frames) < 0.9 * expected - 1:
    raise VideoError(f"{path} is truncated: {len(frames)} frames decoded of the "
                     f"{expected:.0f} its header announces")
  return np.stack(frames)
