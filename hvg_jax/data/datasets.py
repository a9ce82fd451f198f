"""The real data sets as TFDS builders over a manual directory (users bring their copy).

Each video is decoded once by ``hvg_jax.prepare_data`` (ffmpeg: the shorter side resized to
the storage size, bilinear; the native or a given frame rate), cut into consecutive,
non-overlapping clips of ``clip_frames`` frames and stored as ArrayRecord files of JPEG
frames, which training reads by random access (``tfds.data_source``) without decoding
video again. A video that cannot be decoded or is shorter than one clip is skipped and
recorded with the reason (``builder.skipped``), never stopping the build.

Layouts (the official ones):
  bdd100k:      <manual_dir>/videos/{train,val}/*.mov (unconditional)
  kinetics600:  the annotations (label, youtube_id, time_start, time_end, split) as
                <manual_dir>/annotations/{train,val}.{txt,csv} (cvdfoundation's download)
                or <manual_dir>/kinetics-600_{train,val}.csv, and the videos anywhere under
                <manual_dir>/{train,val}/, named <youtube_id>_<start:06d>_<end:06d>.<ext>
  ucf101:       <manual_dir>/UCF-101/<class>/*.avi and
                <manual_dir>/ucfTrainTestlist/{classInd,trainlist0K,testlist0K}.txt
  video_folder: any tree of .mp4/.avi/.mov/.mkv/.webm under <manual_dir>; the class is the
                first sub-folder's name with ``class_from_folder``, else unconditional
"""

import csv
import dataclasses
import os
import pathlib
import re

import numpy as np
import tensorflow_datasets as tfds
from absl import logging
from etils import epath

from hvg_jax.data.video_decode import VIDEO_SUFFIXES, VideoError, read_video
from hvg_jax.errors import UserError


@dataclasses.dataclass
class VideoConfig(tfds.core.BuilderConfig):
  """How videos are stored: the shorter side, the frame rate, frames per clip."""
  size: int = 128
  fps: float | None = None  # None: the native frame rate
  clip_frames: int = 100
  ucf_split: int = 1  # which of UCF101's three official splits
  class_from_folder: bool = False  # video_folder: the class is the first sub-folder


def video_config(size: int, fps: float | None = None, clip_frames: int = 100,
                 **kwargs) -> VideoConfig:
  rate = f"{fps:g}fps" if fps else "native"
  name = f"{size}px_{rate}_{clip_frames}f"
  if kwargs.get("ucf_split", 1) != 1:
    name += f"_split{kwargs['ucf_split']}"
  if kwargs.get("class_from_folder"):
    name += "_classes"
  return VideoConfig(name=name, size=size, fps=fps, clip_frames=clip_frames, **kwargs)


@dataclasses.dataclass
class Item:
  path: pathlib.Path
  label: int


class _VideoClips(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """Clips of videos listed by a subclass's ``_items(manual_dir) -> {split: [Item]}``."""

  VERSION = tfds.core.Version("1.0.0")
  BUILDER_CONFIGS = []  # every config is made by prepare_data from its flags
  CLASSES: tuple[str, ...] = ()  # fixed class names; [] when read from the manual dir

  def __init__(self, **kwargs):
    super().__init__(**kwargs)
    self.read = 0  # videos decoded
    self.skipped: list[tuple[str, str]] = []  # (path, reason)
    self.classes: list[str] = list(self.CLASSES)

  def _info(self):
    return self.dataset_info_from_configs(
        features=tfds.features.FeaturesDict({
            "video": tfds.features.Video((None, None, None, 3), encoding_format="jpeg"),
            "label": tfds.features.Scalar(np.int64),
            "path": tfds.features.Text(),
        }),
        metadata=tfds.core.MetadataDict(),
        description=self.__doc__)

  def _split_generators(self, dl_manager):
    manual_dir = pathlib.Path(dl_manager.manual_dir)
    splits = self._items(manual_dir)
    self.info.metadata["classes"] = self.classes
    self.info.metadata["clip_frames"] = self.builder_config.clip_frames
    self.info.metadata["size"] = self.builder_config.size
    return {name: self._generate_examples(items) for name, items in splits.items()}

  def _items(self, manual_dir: pathlib.Path) -> dict[str, list[Item]]:
    raise NotImplementedError

  def _skip(self, path, reason: str):
    logging.warning("Skipping %s: %s", path, reason)
    self.skipped.append((str(path), reason))

  def _generate_examples(self, items):
    c = self.builder_config
    for item in items:
      try:
        video = read_video(item.path, c.size, c.fps)
      except VideoError as e:
        self._skip(item.path, str(e))
        continue
      self.read += 1
      n = len(video) // c.clip_frames
      if not n:
        self._skip(item.path, f"too short: {len(video)} frames, a clip needs "
                              f"{c.clip_frames} (--clip_frames)")
        continue
      for i in range(n):
        clip = video[i * c.clip_frames:(i + 1) * c.clip_frames]
        yield f"{item.path}:{i}", {"video": clip, "label": item.label, "path": str(item.path)}


def _videos_under(directory: pathlib.Path) -> list[pathlib.Path]:
  return sorted(p for p in directory.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES)


class Bdd100k(_VideoClips, skip_registration=True):
  """BDD100K driving videos (unconditional), 1280x720 at 30 fps, ~40 s each."""

  MANUAL_DOWNLOAD_INSTRUCTIONS = (
      "download the BDD100K videos (https://bdd-data.berkeley.edu) and pass the directory "
      "holding videos/train and videos/val as --manual_dir")

  def _items(self, manual_dir):
    splits = {}
    for split, folder in (("train", "train"), ("validation", "val")):
      directory = manual_dir / "videos" / folder
      if directory.is_dir():
        splits[split] = [Item(p, 0) for p in _videos_under(directory)]
    if not splits:
      raise FileNotFoundError(f"{manual_dir}/videos/train (or val) not found: "
                              f"{self.MANUAL_DOWNLOAD_INSTRUCTIONS}")
    return splits


def _kinetics_clip_name(row) -> str:
  """A clip's file stem, <youtube_id>_<start:06d>_<end:06d>: one YouTube video can give
  several clips, so the id alone does not name a file."""
  try:
    return f"{row['youtube_id']}_{int(row['time_start']):06d}_{int(row['time_end']):06d}"
  except (KeyError, TypeError, ValueError):  # no times: the file is named by the id
    return row["youtube_id"]


class Kinetics600(_VideoClips, skip_registration=True):
  """Kinetics-600 (600 classes) from the official CSV annotations and downloaded clips."""

  MANUAL_DOWNLOAD_INSTRUCTIONS = (
      "download Kinetics-600 (e.g. with https://github.com/cvdfoundation/kinetics-dataset's "
      "k600_downloader.sh) and pass the directory holding annotations/ (or "
      "kinetics-600_{train,val}.csv) and the train/ and val/ video folders as --manual_dir")

  @staticmethod
  def _annotations(manual_dir, name):
    for path in (manual_dir / "annotations" / f"{name}.txt",
                 manual_dir / "annotations" / f"{name}.csv",
                 manual_dir / f"kinetics-600_{name}.csv"):
      if path.exists():
        with path.open(newline="") as f:
          rows = list(csv.DictReader(f))
        if rows and not {"label", "youtube_id"} <= set(rows[0]):
          raise FileNotFoundError(f"{path}: expected the columns label and youtube_id, got "
                                  f"{sorted(rows[0])}")
        return rows
    return None

  def _items(self, manual_dir):
    rows = {}
    for split, name in (("train", "train"), ("validation", "val")):
      found = self._annotations(manual_dir, name)
      if found is not None:
        rows[split] = (name, found)
    if not rows:
      raise FileNotFoundError(f"no annotations/train.txt or kinetics-600_train.csv in "
                              f"{manual_dir}: {self.MANUAL_DOWNLOAD_INSTRUCTIONS}")
    self.classes = sorted({r["label"] for _, split_rows in rows.values() for r in split_rows})
    index = {c: i for i, c in enumerate(self.classes)}
    splits = {}
    for split, (name, split_rows) in rows.items():
      files = {p.stem: p for p in _videos_under(manual_dir / name)} \
          if (manual_dir / name).is_dir() else {}
      items, seen = [], set()
      for r in split_rows:
        key = _kinetics_clip_name(r)
        path = files.get(key) or files.get(r["youtube_id"])
        if path is None:
          self._skip(f"{name}/{key}", "listed in the annotations, no video file")
        elif path not in seen:  # a clip listed twice is stored once
          seen.add(path)
          items.append(Item(path, index[r["label"]]))
      splits[split] = items
    return splits


class Ucf101(_VideoClips, skip_registration=True):
  """UCF101 (101 classes), one of its three official train/test splits."""

  MANUAL_DOWNLOAD_INSTRUCTIONS = (
      "download UCF101.rar and UCF101TrainTestSplits-RecognitionTask.zip "
      "(https://www.crcv.ucf.edu/data/UCF101.php), extract both, and pass the directory "
      "holding UCF-101/ and ucfTrainTestlist/ as --manual_dir")

  def _items(self, manual_dir):
    lists = manual_dir / "ucfTrainTestlist"
    if not (manual_dir / "UCF-101").is_dir() or not (lists / "classInd.txt").exists():
      raise FileNotFoundError(f"{manual_dir}/UCF-101 or ucfTrainTestlist/classInd.txt not "
                              f"found: {self.MANUAL_DOWNLOAD_INSTRUCTIONS}")
    self.classes = [line.split()[1] for line in (lists / "classInd.txt").read_text().split("\n")
                    if line.strip()]
    index = {c: i for i, c in enumerate(self.classes)}
    k = self.builder_config.ucf_split
    splits = {}
    for split, name in (("train", f"trainlist0{k}.txt"), ("test", f"testlist0{k}.txt")):
      items = []
      for line in (lists / name).read_text().split("\n"):
        if line.strip():
          relative = line.split()[0]
          items.append(Item(manual_dir / "UCF-101" / relative, index[relative.split("/")[0]]))
      splits[split] = items
    return splits


class VideoFolder(_VideoClips, skip_registration=True):
  """Any tree of video files; classes from the first sub-folder when asked."""

  MANUAL_DOWNLOAD_INSTRUCTIONS = "pass a directory of video files as --manual_dir"

  def _items(self, manual_dir):
    paths = _videos_under(manual_dir)
    if not paths:
      raise FileNotFoundError(f"no {'/'.join(VIDEO_SUFFIXES)} files under {manual_dir}")
    if not self.builder_config.class_from_folder:
      return {"train": [Item(p, 0) for p in paths]}
    in_folders = [p for p in paths if len(p.relative_to(manual_dir).parts) > 1]
    for p in sorted(set(paths) - set(in_folders)):
      self._skip(p, "not in a class sub-folder (--class_from_folder)")
    folder = lambda p: p.relative_to(manual_dir).parts[0]
    self.classes = sorted({folder(p) for p in in_folders})
    return {"train": [Item(p, self.classes.index(folder(p))) for p in in_folders]}


BUILDERS = {"bdd100k": Bdd100k, "kinetics600": Kinetics600, "ucf101": Ucf101,
            "video_folder": VideoFolder}


class NotPreparedError(UserError, FileNotFoundError):
  """The data set has not been prepared in the data directory."""


def prepared_configs(name: str, data_dir) -> dict[str, epath.Path]:
  """{storage config name: directory} of the prepared versions of data set ``name``
  (local or remote, e.g. gs://, directories)."""
  root = epath.Path(os.path.expanduser(str(data_dir))) / name
  found = {}
  for info in sorted(root.glob("*/*/dataset_info.json"), key=lambda p: str(p)):
    if re.fullmatch(r"\d+\.\d+\.\d+", info.parent.name):  # not an incomplete.* one
      found[info.parent.parent.name] = info.parent  # the newest version last
  return found


class StorageChoiceError(UserError, ValueError):
  """Several prepared versions of the data set fit a level: the config must pick one."""


_STORAGE_NAME = re.compile(r"(\d+)px_[^_]+_(\d+)f(_split\d+)?(_classes)?")


def storage_shape(storage: str) -> tuple[int, int, bool] | None:
  """(size, clip_frames, classes from folders) of a version named by ``video_config``;
  None for another name."""
  m = _STORAGE_NAME.fullmatch(storage)
  return (int(m[1]), int(m[2]), bool(m[4])) if m else None


def storage_fits(storage: str, *, size: int, clip_frames: int) -> bool:
  """Whether clips prepared as ``storage`` hold ``clip_frames`` frames of at least
  ``size`` px."""
  shape = storage_shape(storage)
  return shape is not None and shape[0] >= size and shape[1] >= clip_frames


def choose_storage(name: str, data_dir, *, size: int, clip_frames: int,
                   classes: bool = False) -> str:
  """The prepared version of ``name`` that fits (``storage_fits``), when exactly one does
  (or exactly one of those with class labels from folders as ``classes`` asks);
  NotPreparedError (none prepared, or none fits) or StorageChoiceError (several do)."""
  found = prepared_configs(name, data_dir)
  if not found:
    raise NotPreparedError(f"{name} is not prepared in {data_dir}")
  fits = [s for s in found if storage_fits(s, size=size, clip_frames=clip_frames)]
  if not fits:
    raise NotPreparedError(f"{name} is prepared in {data_dir} as {sorted(found)}, none with "
                           f"clips of {clip_frames} frames of {size} px")
  if len(fits) > 1:  # video_folder prepared with and without --class_from_folder
    fits = [s for s in fits if storage_shape(s)[2] == classes] or fits
  if len(fits) > 1:
    raise StorageChoiceError(
        f"{name} is prepared in {data_dir} several ways that fit ({', '.join(fits)}): "
        f"choose one with --config.data.storage={fits[0]}")
  return fits[0]


def load_source(name: str, data_dir, storage: str = "", split: str = "train"):
  """(random-access source of {"video", "label", "path"} clips, metadata) of the prepared
  version ``storage`` of data set ``name`` (see ``choose_storage``)."""
  found = prepared_configs(name, data_dir)
  if storage not in found:
    raise NotPreparedError(f"config.data.storage: {name} is not prepared as {storage!r} in "
                           f"{data_dir} (prepared: {sorted(found)})")
  builder = tfds.builder_from_directory(str(found[storage]))
  if split not in builder.info.splits:
    raise NotPreparedError(f"{name}/{storage} has no split {split!r} (it has "
                           f"{sorted(builder.info.splits)})")
  return PreparedClips(builder.as_data_source(split=split)), dict(builder.info.metadata)


class PreparedClips:
  """Random access to prepared clips as {"video": uint8 (T, H, W, 3), "label", "path"}."""

  def __init__(self, source):
    self.source = source

  def __len__(self):
    return len(self.source)

  def __getitem__(self, index):
    example = self.source[index]
    path = example["path"]
    return {"video": np.asarray(example["video"], np.uint8), "label": int(example["label"]),
            "path": path.decode() if isinstance(path, bytes) else str(path)}
