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
                  settings: str = "", metrics: dict | None = None) -> epath.Path:
  """Writes level<k>.{gif,mp4}, levels.{gif,mp4}, videos.npz and index.html (with the
  chain's ``metrics`` when given, see :func:`write_index`)."""
  output = epath.Path(output)
  output.mkdir(parents=True, exist_ok=True)
  frames = [video_io.to_uint8(v) for v in videos]
  columns = int(np.ceil(np.sqrt(len(frames[0]))))
  for lv, v in zip(levels, frames):
    video_io.write_video_files(output / f"level{lv.config.level}", video_io.grid(v, columns),
                               fps)
  video_io.write_video_files(output / "levels", side_by_side(frames), fps)
  buffer = io.BytesIO()  # zipfile seeks, which remote (gs://) files do not
  np.savez(buffer, **{f"level{lv.config.level}": v for lv, v in zip(levels, frames)})
  (output / "videos.npz").write_bytes(buffer.getvalue())
  return write_index(output, levels, [v.shape for v in frames], settings=settings,
                     metrics=metrics)


def write_index(output, levels, shapes, *, settings: str = "",
                metrics: dict | None = None) -> epath.Path:
  """index.html: the levels side by side (a row per video, a column per level), each
  level's videos, and a table of ``metrics`` (name -> value) when given."""
  output = epath.Path(output)
  entries = [("levels", "every level side by side (rows: videos; columns: levels)")]
  for lv, shape in zip(levels, shapes):
    entries.append((f"level{lv.config.level}",
                    f"level {lv.config.level} ({lv.config.name}): {shape[1]} frames at "
                    f"{shape[2]}x{shape[3]}, from {lv.source}"))
  items = "\n".join(
      f'<figure><img src="{name}.gif"><figcaption>{html.escape(text)} '
      f'(<a href="{name}.mp4">mp4</a>)</figcaption></figure>' for name, text in entries)
  table = ""
  if metrics:
    rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{v:.4g}</td></tr>"
                   for k, v in metrics.items())
    table = (f"<h2>Metrics</h2><table>{rows}</table>"
             "<p>From <a href='metrics.json'>metrics.json</a>.</p>")
  (output / "index.html").write_text(
      "<!doctype html><meta charset='utf-8'><title>hvg_jax samples</title>"
      "<style>img{image-rendering:pixelated;max-width:100%}figure{margin:1em 0}"
      "td{padding:0 1em 0 0;font-family:monospace}</style>"
      f"<h1>hvg_jax samples</h1><p>{html.escape(settings)}</p>\n{table}\n{items}\n")
  return output / "index.html"
