"""The files of a chain's samples: each level's videos, the levels side by side, the arrays,
and an index.html that shows them, written as the chunks of the videos are made.

Files appear complete or not at all: each is written under a temporary name
(``.partial-<name>``) and renamed when every file is complete; a failed write (a full disk)
removes them and is one SampleWriteError naming the file and the cause."""

import collections
import contextlib
import html
import pathlib

import jax
import numpy as np
from etils import epath

from hvg_jax import video_io
from hvg_jax.chain.runner import Frames
from hvg_jax.errors import UserError


class SampleWriteError(UserError, OSError):
  """The samples could not be written; no partial file is left."""


def _partial(path: pathlib.Path) -> pathlib.Path:
  """Where ``path`` is written until it is complete (its suffix kept: the encoders choose
  the format by it)."""
  return path.with_name(f".partial-{path.name}")


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


# GIFs are previews: each shows the first frames of its videos (the MP4s have them all).
GIF_FRAMES = 128


class _NpyWriter:
  """A uint8 .npy file of known shape written frame by frame (readable with mmap_mode)."""

  def __init__(self, path, shape):
    self._file = open(path, "wb")  # pylint: disable=consider-using-with
    np.lib.format.write_array_header_1_0(self._file, {
        "descr": np.lib.format.dtype_to_descr(np.dtype(np.uint8)), "fortran_order": False,
        "shape": tuple(shape)})

  def write(self, frames: np.ndarray):
    self._file.write(np.ascontiguousarray(frames, np.uint8).tobytes())

  def close(self):
    self._file.close()


class _VideoFiles:
  """<stem>.mp4 (every frame) and <stem>.gif (the first ``gif_frames``) of a video written
  as its frames come."""

  def __init__(self, stem: pathlib.Path, height: int, width: int, fps: float,
               gif_frames: int, partial=lambda path: path):
    self.stem, self.fps, self.gif_frames, self.partial = stem, fps, gif_frames, partial
    self._mp4 = video_io.Mp4Writer(partial(stem.with_suffix(".mp4")), height, width, fps)
    self._gif = []

  def write(self, frames: np.ndarray):
    self._mp4.write(frames)
    room = self.gif_frames - sum(len(f) for f in self._gif)
    if room > 0:
      self._gif.append(frames[:room])

  def close(self):
    self._mp4.close()
    if self._gif:  # (none when the first write failed)
      video_io.write_gif(self.partial(self.stem.with_suffix(".gif")), np.concatenate(self._gif),
                         self.fps)


class SideBySide:
  """levels.*, made as the chunks come: each top-level frame t beside frame t * T_j // T_top
  of every level j below (``lengths``: T of every level), which is kept until then."""

  def __init__(self, lengths: list[int]):
    self.lengths = lengths
    self.below = [Frames() for _ in lengths[:-1]]
    self.shown = 0  # top-level frames done

  def add(self, k: int, frames: np.ndarray) -> np.ndarray | None:
    """Takes level k's (index) next uint8 frames; returns the side-by-side frames that a
    top level's frames complete (None for a lower level's)."""
    top = len(self.lengths) - 1
    if k < top:
      self.below[k].append(frames)
      return None
    t = np.arange(self.shown, self.shown + frames.shape[1])
    columns = []
    for j, buffer in enumerate(self.below):
      columns.append(buffer.frames[:, t * self.lengths[j] // self.lengths[top] - buffer.start])
      buffer.drop_before(int(t[-1] + 1) * self.lengths[j] // self.lengths[top])
    self.shown += frames.shape[1]
    return side_by_side(columns + [frames])


def write_samples(output, levels, lengths: list[int], chunks, *, fps: float = 8.0,
                  settings: str = "", metrics: dict | None = None, arrays: bool = True,
                  gif_frames: int = GIF_FRAMES) -> epath.Path | None:
  """Writes a chain's videos as ``chunks`` ((level index, frames in [-1, 1]) in the order
  :meth:`ChainSampler.stream` makes them) come: level<k>.{gif,mp4} (a grid of the videos),
  levels.{gif,mp4} (the levels side by side), with ``arrays`` level<k>_<i>.npy (uint8, one
  per video), and index.html (with the chain's ``metrics`` when given, see
  :func:`write_index`). Holds only the lower levels' frames the top's next frames show.
  Every process calls it (all of them make the chunks); the first writes."""
  if jax.process_index() != 0:
    collections.deque(chunks, maxlen=0)
    return None
  output = epath.Path(output)
  try:
    output.mkdir(parents=True, exist_ok=True)
  except OSError as e:
    raise SampleWriteError(f"{output}: cannot be created ({e.strerror or e}); choose "
                           "another --output") from None
  shapes = [None] * len(levels)
  try:
    with video_io.local_dir(output) as local:
      finals = _write_files(local, levels, lengths, chunks, shapes,
                            dict(fps=fps, arrays=arrays, gif_frames=gif_frames))
      for final in finals:  # every file is complete: all appear at once
        _partial(final).replace(final)
  except Exception as e:
    if jax.process_count() > 1:  # the others wait for this process in the chunks' collectives
      collections.deque(chunks, maxlen=0)
    if isinstance(e, OSError) and not isinstance(e, UserError):
      raise SampleWriteError(
          f"the samples could not be written in {output}: {e.strerror or e}"
          f"{f' ({e.filename})' if getattr(e, 'filename', None) else ''}; no partial file "
          "was left: free space or choose another --output, then run the command "
          "again") from None
    raise
  return write_index(output, levels, shapes, settings=settings, metrics=metrics,
                     gif_frames=gif_frames)


def _write_files(local: pathlib.Path, levels, lengths, chunks, shapes: list,
                 options: dict) -> list[pathlib.Path]:
  """Writes the chunks' files under their temporary names in ``local``; returns their
  final paths. On an error every temporary file is removed."""
  files, finals, beside = {}, [], SideBySide(lengths)
  fps, gif_frames = options["fps"], options["gif_frames"]

  def opened(path, make):
    finals.append(path)
    return make(_partial(path))

  try:
    with contextlib.ExitStack() as open_files:
      for k, frames in chunks:
        frames = video_io.to_uint8(frames)
        n, _, r = frames.shape[:3]
        name = f"level{levels[k].config.level}"
        columns = int(np.ceil(np.sqrt(n)))
        if k not in files:  # the level's first chunk: its files
          shapes[k] = (n, lengths[k], r, r, 3)
          size = video_io.grid(frames[:, :1], columns).shape[1:3]
          files[k] = [_VideoFiles(local / name, *size, fps, gif_frames, partial=_partial)]
          finals += [local / f"{name}.mp4", local / f"{name}.gif"]
          if options["arrays"]:
            files[k] += [opened(local / f"{name}_{i}.npy",
                                lambda p: _NpyWriter(p, shapes[k][1:])) for i in range(n)]
          for f in files[k]:
            open_files.callback(f.close)
        files[k][0].write(video_io.grid(frames, columns))
        for i, npy in enumerate(files[k][1:]):
          npy.write(frames[i])
        grid = beside.add(k, frames)
        if grid is not None:
          if "levels" not in files:
            files["levels"] = [_VideoFiles(local / "levels", *grid.shape[1:3], fps,
                                           gif_frames, partial=_partial)]
            finals += [local / "levels.mp4", local / "levels.gif"]
            open_files.callback(files["levels"][0].close)
          files["levels"][0].write(grid)
  except BaseException:
    for final in finals:
      _partial(final).unlink(missing_ok=True)
    raise
  return [f for f in finals if _partial(f).exists()]


def load_videos(output) -> dict[str, np.ndarray]:
  """The uint8 videos of every level :func:`write_samples` wrote (level<k> -> (N, T, R, R,
  3)), read into memory (for one long video, ``np.load(path, mmap_mode="r")`` maps it)."""
  output = pathlib.Path(output)
  names = sorted({p.name.rsplit("_", 1)[0] for p in output.glob("level*_*.npy")})
  return {name: np.stack([np.load(p, mmap_mode="r") for p in sorted(
      output.glob(f"{name}_*.npy"), key=lambda p: int(p.stem.rsplit("_", 1)[1]))])
          for name in names}


def write_index(output, levels, shapes, *, settings: str = "",
                metrics: dict | None = None, gif_frames: int = GIF_FRAMES) -> epath.Path:
  """index.html: the levels side by side (a row per video, a column per level), each
  level's videos, and a table of ``metrics`` (name -> value) when given."""
  output = epath.Path(output)
  preview = (f"; the GIFs show the first {gif_frames} frames"
             if max(s[1] for s in shapes) > gif_frames else "")
  entries = [("levels", f"every level side by side (rows: videos; columns: levels){preview}")]
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
  page = (
      "<!doctype html><meta charset='utf-8'><title>hvg_jax samples</title>"
      "<style>img{image-rendering:pixelated;max-width:100%}figure{margin:1em 0}"
      "td{padding:0 1em 0 0;font-family:monospace}</style>"
      f"<h1>hvg_jax samples</h1><p>{html.escape(settings)}</p>\n{table}\n{items}\n")
  partial = output / ".partial-index.html"
  try:
    partial.write_text(page)
    partial.replace(output / "index.html")  # whole or absent
  except OSError as e:
    partial.unlink(missing_ok=True)
    raise SampleWriteError(f"{output / 'index.html'} could not be written "
                           f"({e.strerror or e}): free space, then run the command "
                           "again") from None
  return output / "index.html"
