"""Clips from a folder of videos and their I3D embeddings (the ``fvd`` command).

Every file is one clip, its first ``frames`` frames: videos (.mp4 .avi .mov .mkv .webm
.gif) decoded by ffmpeg at their own size, as ``prepare_data`` decodes them but without its
resize (the FVD protocol resizes to 224x224 itself), and NumPy arrays (.npy, or .npz with
one array) of uint8 frames (T, H, W, 3). Files are taken in sorted path order (the folder
is searched recursively); one that cannot be read, is not uint8 RGB frames or is shorter
than ``frames`` is skipped with its reason; files of other types are ignored.
"""

import dataclasses
import hashlib
import pathlib

import numpy as np
from tqdm import tqdm

from hvg_jax.data import video_decode
from hvg_jax.errors import UserError

ARRAY_SUFFIXES = (".npy", ".npz")
SUFFIXES = (*video_decode.VIDEO_SUFFIXES, ".gif", *ARRAY_SUFFIXES)


class FolderError(UserError, ValueError):
  """A folder that cannot give the clips asked for."""


class ClipError(UserError, ValueError):
  """A file that cannot be used as a clip."""


def list_files(directory) -> list[pathlib.Path]:
  """The folder's video and array files, sorted; FolderError if there are none."""
  root = pathlib.Path(directory).expanduser()
  if not root.is_dir():
    raise FolderError(f"{root} is not a folder")
  files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
  if not files:
    raise FolderError(f"{root} has no video or array files ({' '.join(SUFFIXES)})")
  return files


def _read_array(path: pathlib.Path) -> np.ndarray:
  try:
    if path.suffix.lower() == ".npy":
      return np.load(path, mmap_mode="r", allow_pickle=False)
    with np.load(path, allow_pickle=False) as f:
      if len(f.files) != 1:
        raise ClipError(f"holds {len(f.files)} arrays; one clip (T, H, W, 3) per file")
      return f[f.files[0]]
  except ClipError:
    raise
  except (OSError, ValueError, EOFError) as e:
    raise ClipError(f"not a readable NumPy file ({str(e)[:120]})") from None


def read_clip(path, frames: int) -> np.ndarray:
  """The first ``frames`` frames of a file, uint8 (frames, H, W, 3), or ClipError."""
  path = pathlib.Path(path)
  if path.suffix.lower() in ARRAY_SUFFIXES:
    clip = _read_array(path)
    if clip.dtype != np.uint8 or clip.ndim != 4 or clip.shape[-1] != 3:
      raise ClipError(f"holds {clip.dtype} {clip.shape}, not uint8 frames (T, H, W, 3)")
  else:
    try:
      clip = video_decode.read_first_frames(path, frames)
    except video_decode.VideoError as e:
      raise ClipError(str(e)) from None
  if len(clip) < frames:
    raise ClipError(f"{len(clip)} frames, fewer than {frames}")
  return np.ascontiguousarray(clip[:frames])


def content_digest(files, root) -> str:
  """SHA-256 of the files' paths (relative to ``root``) and bytes: which clips these are."""
  h = hashlib.sha256()
  for path in files:
    h.update(str(pathlib.Path(path).relative_to(root)).encode() + b"\0")
    with open(path, "rb") as f:
      for block in iter(lambda: f.read(1 << 20), b""):
        h.update(block)
    h.update(b"\0")
  return h.hexdigest()


@dataclasses.dataclass
class Report:
  """Which files of a folder were used and which skipped (with why)."""
  directory: str
  used: list = dataclasses.field(default_factory=list)
  skipped: list = dataclasses.field(default_factory=list)  # [name, reason]

  def summary(self) -> str:
    line = f"{self.directory}: {len(self.used)} clips"
    if self.skipped:
      names = "; ".join(f"{n} ({r})" for n, r in self.skipped[:5])
      more = f"; and {len(self.skipped) - 5} more" if len(self.skipped) > 5 else ""
      line += f", {len(self.skipped)} files skipped: {names}{more}"
    return line


def embed(directory, embedder, *, frames: int, num_clips: int | None = None,
          progress: bool = True) -> tuple[dict, Report]:
  """({"logits", "features"} of the folder's first ``num_clips`` usable clips (all when
  None), in file order; the Report). Clips of one size go through I3D in batches of the
  embedder's size: one compiled program per clip size."""
  root = pathlib.Path(directory).expanduser()
  files = list_files(root)
  report = Report(str(root))
  results, pending = {}, {}  # index -> embedding; shape -> [(index, clip)]

  def flush(shape):
    indices, clips = zip(*pending.pop(shape))
    out = embedder(np.stack(clips))
    for j, index in enumerate(indices):
      results[index] = {k: v[j] for k, v in out.items()}

  want = num_clips or len(files)
  with tqdm(total=want, desc=f"I3D on {root.name or root}", unit="clip",
            disable=not progress, leave=False) as bar:
    for path in files:
      if len(report.used) == want:
        break
      name = str(path.relative_to(root))
      try:
        clip = read_clip(path, frames)
      except ClipError as e:
        report.skipped.append([name, str(e)])
        continue
      pending.setdefault(clip.shape, []).append((len(report.used), clip))
      report.used.append(name)
      bar.update(1)
      if len(pending[clip.shape]) == embedder.batch:
        flush(clip.shape)
    for shape in list(pending):
      flush(shape)
  if not report.used:
    raise FolderError(f"no usable clip of {frames} frames in {report.summary()}")
  if num_clips and len(report.used) < num_clips:
    raise FolderError(f"--num_clips={num_clips}, but {report.summary()}; lower --num_clips "
                      "or --frames")
  ordered = [results[i] for i in range(len(report.used))]
  return {k: np.stack([r[k] for r in ordered]) for k in ordered[0]}, report
