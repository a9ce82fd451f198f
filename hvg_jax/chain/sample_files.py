"""The files of a chain's samples: each level's videos, the levels side by side, the arrays,
and an index.html that shows them."""

import html
import io

import numpy as np
from etils import epath

from hvg_jax import video_io


def side_by_side(videos: list[np.ndarray], pad: int = 2) -> np.ndarray:
  """(N, T, R, R, 3) uint8 per level -> (T_top, N*(R_top+pad), L*(R_top+pad), 3): each row a
  video, each column a level, lower levels repeated in time and space to the top's size."""
  n, t, r = videos[-1].shape[:3]
  columns = []
  for v in videos:
    v = v.repeat(t // v.shape[1], axis=1)
    v = v.repeat(r // v.shape[2], axis=2).repeat(r // v.shape[3], axis=3)
    columns.append(v)
  stacked = np.stack(columns, axis=1).reshape((n * len(videos),) + columns[-1].shape[1:])
  return video_io.grid(stacked, columns=len(videos), pad=pad)


def write_samples(output, levels, videos: list[np.ndarray], *, fps: float = 8.0,
                  settings: str = "") -> epath.Path:
  """Writes level<k>.{gif,mp4}, levels.{gif,mp4}, videos.npz and index.html."""
  output = epath.Path(output)
  output.mkdir(parents=True, exist_ok=True)
  frames = [video_io.to_uint8(v) for v in videos]
  columns = int(np.ceil(np.sqrt(len(frames[0]))))
  entries = []
  for lv, v in zip(levels, frames):
    name = f"level{lv.config.level}"
    video_io.write_video_files(output / name, video_io.grid(v, columns), fps)
    entries.append((name, f"level {lv.config.level} ({lv.config.name}): {v.shape[1]} frames "
                          f"at {v.shape[2]}x{v.shape[3]}, from {lv.source}"))
  video_io.write_video_files(output / "levels", side_by_side(frames), fps)
  entries.insert(0, ("levels", "every level side by side (rows: videos; columns: levels)"))
  buffer = io.BytesIO()  # zipfile seeks, which remote (gs://) files do not
  np.savez(buffer, **{f"level{lv.config.level}": v for lv, v in zip(levels, frames)})
  (output / "videos.npz").write_bytes(buffer.getvalue())
  items = "\n".join(
      f'<figure><img src="{name}.gif"><figcaption>{html.escape(text)} '
      f'(<a href="{name}.mp4">mp4</a>)</figcaption></figure>' for name, text in entries)
  (output / "index.html").write_text(
      "<!doctype html><meta charset='utf-8'><title>hvg_jax samples</title>"
      "<style>img{image-rendering:pixelated;max-width:100%}figure{margin:1em 0}</style>"
      f"<h1>hvg_jax samples</h1><p>{html.escape(settings)}</p>\n{items}\n")
  return output / "index.html"
