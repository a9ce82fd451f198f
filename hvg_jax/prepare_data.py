r"""Decodes a video data set once into clips that training reads without decoding video.

  python -m hvg_jax.prepare_data --dataset=bdd100k --manual_dir=/data/bdd100k \
      --data_dir=/data/tfds --size=256 --clip_frames=100
  python -m hvg_jax.prepare_data --dataset=video_folder --manual_dir=~/videos \
      --data_dir=/data/tfds --size=64 --fps=12 --class_from_folder

Then train with --config.data.dir=/data/tfds (the configs of bdd100k, kinetics600 and
ucf101 name the data set; config.data.name=video_folder trains on a folder). Every video
is resized (shorter side to --size, bilinear), optionally resampled to --fps, and cut
into clips of --clip_frames frames; bad and too-short videos are skipped and listed.
"""

import pathlib
import sys

from absl import app, flags

from hvg_jax import cli
from hvg_jax.data import datasets
from hvg_jax.errors import UserError

_DATASET = flags.DEFINE_enum("dataset", None, sorted(datasets.BUILDERS), "Which data set.")
_MANUAL_DIR = flags.DEFINE_string("manual_dir", None, "Your copy of it (the official layout).")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "Where the prepared clips go.")
_SIZE = flags.DEFINE_integer("size", 128, "Shorter side of the stored frames (pixels).")
_FPS = flags.DEFINE_float("fps", None, "Frame rate to store (default: the native one).")
_CLIP_FRAMES = flags.DEFINE_integer("clip_frames", 100, "Frames per stored clip; at least "
                                    "the raw span a level takes (frames x subsample).")
_UCF_SPLIT = flags.DEFINE_integer("ucf_split", 1, "UCF101's official split (1, 2 or 3).")
_CLASS_FROM_FOLDER = flags.DEFINE_bool("class_from_folder", False, "video_folder: the class "
                                       "is the first sub-folder's name.")


class AlreadyPreparedError(UserError, FileExistsError):
  """The data set is already prepared this way in the data directory."""


class NoClipsError(UserError, ValueError):
  """Not one clip of a split could be made from the videos."""


def prepare(dataset: str, manual_dir, data_dir, *, size=128, fps=None, clip_frames=100,
            **options):
  """Builds the clips; returns the builder (its ``read``, ``skipped``, ``info``).

  The list of skipped videos is also written beside the clips (skipped.txt).
  """
  manual_dir = pathlib.Path(manual_dir).expanduser()
  builder_class = datasets.BUILDERS[dataset]
  if size < 4 or clip_frames < 1 or (fps is not None and fps <= 0):
    raise ValueError(f"--size={size}, --clip_frames={clip_frames}, --fps={fps}: sizes from "
                     "4 px, clips of at least 1 frame, and a positive frame rate")
  if options.get("ucf_split", 1) not in (1, 2, 3):
    raise ValueError(f"--ucf_split={options['ucf_split']}: UCF101 has splits 1, 2 and 3")
  if not manual_dir.is_dir() or not any(manual_dir.iterdir()):
    raise FileNotFoundError(f"--manual_dir={manual_dir} is missing or empty: "
                            f"{builder_class.MANUAL_DOWNLOAD_INSTRUCTIONS}")
  config = datasets.video_config(size, fps, clip_frames, **options)
  builder = builder_class(config=config, data_dir=str(pathlib.Path(data_dir).expanduser()))
  if builder.data_path.exists():
    raise AlreadyPreparedError(
        f"{dataset} is already prepared as {config.name} in {builder.data_path}; delete that "
        "directory to prepare it again (e.g. from another --manual_dir)")
  try:
    builder.download_and_prepare(
        download_config=datasets.tfds.download.DownloadConfig(manual_dir=str(manual_dir)),
        file_format="array_record")
  except AssertionError as e:  # TFDS's way of saying a split got no examples
    listing = pathlib.Path(data_dir).expanduser() / f"skipped_{dataset}_{config.name}.txt"
    listing.write_text("".join(f"{path}\t{reason}\n" for path, reason in builder.skipped))
    first = f"; the first: {builder.skipped[0][0]}: {builder.skipped[0][1]}" \
        if builder.skipped else ""
    raise NoClipsError(
        f"no clips could be stored from --manual_dir={manual_dir} (a split came out empty: "
        f"{e}): {builder.read} videos decoded, {len(builder.skipped)} skipped, listed in "
        f"{listing}{first}. Check the videos decode (ffmpeg) and are at least "
        "--clip_frames long") from None
  (builder.data_path / "skipped.txt").write_text(
      "".join(f"{path}\t{reason}\n" for path, reason in builder.skipped))
  return builder


def summary(builder) -> str:
  clips = {name: split.num_examples for name, split in builder.info.splits.items()}
  lines = [f"{builder.name}/{builder.builder_config.name} in {builder.data_path}: "
           f"{builder.read} videos decoded, clips stored: "
           + ", ".join(f"{k} {v}" for k, v in sorted(clips.items()))
           + f"; {len(builder.skipped)} skipped (listed in skipped.txt there)"]
  lines += [f"  skipped {path}: {reason}" for path, reason in builder.skipped[:50]]
  if len(builder.skipped) > 50:
    lines.append(f"  ... and {len(builder.skipped) - 50} more")
  return "\n".join(lines)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  options = {}
  if _DATASET.value == "ucf101":
    options["ucf_split"] = _UCF_SPLIT.value
  if _DATASET.value == "video_folder":
    options["class_from_folder"] = _CLASS_FROM_FOLDER.value
  try:
    builder = prepare(_DATASET.value, _MANUAL_DIR.value, _DATA_DIR.value, size=_SIZE.value,
                      fps=_FPS.value, clip_frames=_CLIP_FRAMES.value, **options)
  except (FileNotFoundError, FileExistsError, ValueError) as e:
    sys.exit(f"error: {e}")
  print(summary(builder))


if __name__ == "__main__":
  flags.mark_flags_as_required(["dataset", "manual_dir", "data_dir"])
  app.run(main, flags_parser=cli.parse_flags)
