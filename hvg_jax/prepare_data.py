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

import sys

from absl import app, flags
from ml_collections import config_flags

from hvg_jax import cli
from hvg_jax.data import datasets
from hvg_jax.data.prepare import AlreadyPreparedError, needs, prepare, summary
from hvg_jax.eval.metrics import METRICS

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


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  with cli.user_errors():
    wanted = needs(_CONFIG.value, METRICS) if _CONFIG.value is not None else dict(
        dataset=_DATASET.value, data_dir=None, size=128, clip_frames=100,
        class_from_folder=False)
  given = dict(dataset=_DATASET.value, data_dir=_DATA_DIR.value, size=_SIZE.value,
               clip_frames=_CLIP_FRAMES.value, class_from_folder=_CLASS_FROM_FOLDER.value)
  if _CONFIG.value is not None:  # flags may ask for more than the config reads, not less
    if given["dataset"] not in (None, wanted["dataset"]):
      sys.exit(f"error: --dataset={given['dataset']}, but --config reads "
               f"{wanted['dataset']}: leave --dataset out")
    for key, unit in (("size", "px"), ("clip_frames", "frames per clip")):
      if given[key] is not None and given[key] < wanted[key]:
        sys.exit(f"error: --{key}={given[key]}, but --config reads {wanted[key]} {unit}: "
                 f"leave --{key} out, or pass at least that")
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
  with cli.user_errors():  # a UserError or Ctrl-C: one line
    try:
      builder = prepare(wanted["dataset"], _MANUAL_DIR.value, wanted["data_dir"],
                        size=wanted["size"], fps=_FPS.value,
                        clip_frames=wanted["clip_frames"], **options)
    except AlreadyPreparedError as e:
      if _CONFIG.value is None:
        raise
      print(f"Nothing to do: {e.args[0].split(';')[0]}, which is what --config reads.")
      return
    except (FileNotFoundError, FileExistsError, ValueError) as e:
      sys.exit(f"error: {e}")
  print(summary(builder))


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
