r"""Decodes a video data set once into clips that training reads without decoding video.

  python -m hvg_jax.prepare_data --config=configs/video_folder.py --manual_dir=~/videos \
      --data_dir=~/hvg_data
  python -m hvg_jax.prepare_data --dataset=bdd100k --manual_dir=/data/bdd100k \
      --data_dir=/data/tfds --size=256 --clip_frames=100

With --config (a chain or a level config, overrides included), it prepares what that
config reads: its data set, at the size of its top level, in clips as long as the longest
run any level trains on or its evaluation reads; --data_dir defaults to config.data.dir.
Then train with --config.data.dir=<the data dir> (the configs of bdd100k, kinetics600 and
ucf101 name the data set; config.data.name=video_folder trains on a folder). Every video
is resized (shorter side to --size, bilinear), optionally resampled to --fps, and cut
into clips of --clip_frames frames; bad and too-short videos are skipped and listed.
"""

import pathlib
import sys

from absl import app, flags
from ml_collections import config_flags

from hvg_jax import cli, config_lib
from hvg_jax.data import datasets, pipeline
from hvg_jax.errors import UserError

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "A chain or level config: prepare what it reads (the data set, size and "
    "clip length from it).", lock_config=True)
_DATASET = flags.DEFINE_enum("dataset", None, sorted(datasets.BUILDERS),
                             "Which data set (default: --config's).")
_MANUAL_DIR = flags.DEFINE_string("manual_dir", None, "Your copy of it (the official layout).")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "Where the prepared clips go (default: "
                                "--config's config.data.dir).")
_SIZE = flags.DEFINE_integer("size", None, "Shorter side of the stored frames (pixels; "
                             "default: --config's top resolution, else 128).")
_FPS = flags.DEFINE_float("fps", None, "Frame rate to store (default: the native one).")
_CLIP_FRAMES = flags.DEFINE_integer("clip_frames", None, "Frames per stored clip; at least "
                                    "the raw span a level takes (frames x subsample; "
                                    "default: what --config reads, else 100).")
_UCF_SPLIT = flags.DEFINE_integer("ucf_split", 1, "UCF101's official split (1, 2 or 3).")
_CLASS_FROM_FOLDER = flags.DEFINE_bool("class_from_folder", None, "video_folder: the class "
                                       "is the first sub-folder's name (default: when "
                                       "--config's num_classes is not 0).")


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


def needs(config) -> dict:
  """What a chain or level config reads from its data set: {dataset, data_dir, size,
  clip_frames, class_from_folder}: its top level's resolution, and the longest run of
  stored frames a level trains on or an evaluation reads (the chain's final one, one during
  training, hvg_jax.evaluate's default)."""
  from hvg_jax.eval import evaluation  # pylint: disable=import-outside-toplevel (jax)
  if config_lib.is_chain(config):
    levels = config_lib.chain_levels(config)
    config_lib.check_levels(levels)
  else:
    levels = [config]
    config_lib.validate(config)
  d = levels[-1].data
  if d.name not in datasets.BUILDERS:
    raise config_lib.ConfigError(
        f"config.data.name: {d.name!r} is not a data set prepare_data stores (one of "
        f"{sorted(datasets.BUILDERS)}); the demo renders its videos itself. For your own "
        "videos: --config.data.name=video_folder")

  def span(level, frames):
    return pipeline.ClipSpec(frames, level.data.subsample, level.data.resolution).span

  spans = [span(c, config_lib.level_shapes(c).train_frames) for c in levels]
  # Evaluation during training, and hvg_jax.evaluate's default (the top's config.eval).
  spans += [span(c, evaluation.data_frames(evaluation.settings(c.eval))) for c in levels
            if c.eval.every_steps or c is levels[-1]]
  if config_lib.is_chain(config) and (s := evaluation.chain_settings(config)) is not None:
    spans.append(span(levels[-1], evaluation.data_frames(s)))
  return dict(dataset=d.name, data_dir=d.dir, size=max(c.data.resolution for c in levels),
              clip_frames=max(spans), class_from_folder=d.num_classes > 0)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  with cli.user_errors():
    wanted = needs(_CONFIG.value) if _CONFIG.value is not None else dict(
        dataset=_DATASET.value, data_dir=None, size=128, clip_frames=100,
        class_from_folder=False)
  given = dict(dataset=_DATASET.value, data_dir=_DATA_DIR.value, size=_SIZE.value,
               clip_frames=_CLIP_FRAMES.value, class_from_folder=_CLASS_FROM_FOLDER.value)
  if _CONFIG.value is not None:
    for key, flag in (("dataset", "--dataset"), ("size", "--size"),
                      ("clip_frames", "--clip_frames")):
      if given[key] is not None and (given[key] != wanted[key] if key == "dataset"
                                     else given[key] < wanted[key]):
        sys.exit(f"error: {flag}={given[key]}, but --config reads "
                 f"{'clips of ' if key == 'clip_frames' else ''}{wanted[key]}"
                 f"{' px' if key == 'size' else ''}{' frames' if key == 'clip_frames' else ''}"
                 f": leave {flag} out, or pass at least that")
  wanted.update({k: v for k, v in given.items() if v is not None})
  missing = [flag for flag, key in (("--dataset (or --config)", "dataset"),
                                    ("--data_dir (or --config.data.dir)", "data_dir"))
             if not wanted[key]]
  if missing or not _MANUAL_DIR.value:
    sys.exit(f"error: pass {', '.join(missing + ['--manual_dir'] * (not _MANUAL_DIR.value))}")
  options = {}
  if wanted["dataset"] == "ucf101":
    options["ucf_split"] = _UCF_SPLIT.value
  if wanted["dataset"] == "video_folder":
    options["class_from_folder"] = wanted["class_from_folder"]
  try:
    builder = prepare(wanted["dataset"], _MANUAL_DIR.value, wanted["data_dir"],
                      size=wanted["size"], fps=_FPS.value, clip_frames=wanted["clip_frames"],
                      **options)
  except AlreadyPreparedError as e:
    if _CONFIG.value is None:
      sys.exit(f"error: {e}")
    print(f"Nothing to do: {e.args[0].split(';')[0]}, which is what --config reads.")
    return
  except (FileNotFoundError, FileExistsError, ValueError) as e:
    sys.exit(f"error: {e}")
  print(summary(builder))


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
