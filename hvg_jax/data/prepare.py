"""Preparing a data set: decoding every video once into stored clips (``prepare``), and what
a config reads from its data set (``needs``). The command is hvg_jax.prepare_data."""

import logging
import pathlib
import shutil

from hvg_jax import config_lib, files, locks
from hvg_jax.data import datasets, pipeline
from hvg_jax.errors import UserError


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
  _check_not_prepared(builder, dataset)
  try:
    builder.data_path.parent.mkdir(parents=True, exist_ok=True)
  except OSError as e:
    raise files.WriteError(f"{builder.data_path.parent} cannot be created: "
                           f"{files.io_reason(e)}; choose another --data_dir") from None
  # Two runs into one data set would write the same folders: the second stops at once.
  with locks.held(builder.data_path.parent / "prepare.lock",
                  what=f"{builder.data_path.parent} (being prepared)",
                  instead="use another --data_dir"):
    _check_not_prepared(builder, dataset)  # the other run may have finished meanwhile
    _remove_incomplete(builder.data_path)
    _build(builder, dataset, manual_dir, data_dir)
  return builder


def _check_not_prepared(builder, dataset: str):
  if builder.data_path.exists():
    raise AlreadyPreparedError(
        f"{dataset} is already prepared as {builder.builder_config.name} in "
        f"{builder.data_path}; delete that directory to prepare it again (e.g. from another "
        "--manual_dir)")


def _remove_incomplete(data_path: pathlib.Path):
  """Removes what a run stopped mid-way (a kill, a crash) left: TFDS's ``incomplete.*``
  folders beside the clips' (only this run, holding the lock, could be writing them)."""
  for stale in data_path.parent.glob(f"incomplete.*_{data_path.name}"):
    logging.warning("Removing %s, left by a run that stopped before it finished.", stale)
    shutil.rmtree(stale, ignore_errors=True)


def _build(builder, dataset: str, manual_dir: pathlib.Path, data_dir):
  try:
    builder.download_and_prepare(
        download_config=datasets.tfds.download.DownloadConfig(manual_dir=str(manual_dir)),
        file_format="array_record")
  except AssertionError as e:  # TFDS's way of saying a split got no examples
    listing = (pathlib.Path(data_dir).expanduser()
               / f"skipped_{dataset}_{builder.builder_config.name}.txt")
    _write_listing(listing, builder.skipped)
    first = f"; the first: {builder.skipped[0][0]}: {builder.skipped[0][1]}" \
        if builder.skipped else ""
    raise NoClipsError(
        f"no clips could be stored from --manual_dir={manual_dir} (a split came out empty: "
        f"{e}): {builder.read} videos decoded, {len(builder.skipped)} skipped, listed in "
        f"{listing}{first}. Check the videos decode (ffmpeg) and are at least "
        "--clip_frames long") from None
  except Exception as e:  # pylint: disable=broad-except
    if isinstance(e, UserError) or not files.is_io_error(e):
      raise
    raise files.WriteError(  # TFDS removes its incomplete folder on the way out
        f"the clips could not be written to {builder.data_path}: {files.io_reason(e)}. "
        "Nothing partial was kept: free space or choose another --data_dir, then run the "
        "command again") from None
  _write_listing(builder.data_path / "skipped.txt", builder.skipped)


def _write_listing(path, skipped: list):
  with files.atomic(path, "w") as f:
    f.write("".join(f"{video}\t{reason}\n" for video, reason in skipped))


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


def needs(config, metrics: config_lib.evaluation.Registry) -> dict:
  """What a chain or level config reads from its data set: {dataset, data_dir, size,
  clip_frames, class_from_folder}: its top level's resolution, and the longest run of
  stored frames a level trains on or an evaluation reads (the chain's final one, one during
  training, hvg_jax.evaluate's default). ``metrics``: the metric registry
  (hvg_jax.eval.metrics.METRICS), which says what each evaluation reads."""
  evaluation = config_lib.evaluation
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
  spans += [span(c, evaluation.data_frames(evaluation.settings(c.eval, metrics), metrics))
            for c in levels if c.eval.every_steps or c is levels[-1]]
  if config_lib.is_chain(config) and (
      s := evaluation.chain_settings(config, metrics)) is not None:
    spans.append(span(levels[-1], evaluation.data_frames(s, metrics)))
  return dict(dataset=d.name, data_dir=d.dir, size=max(c.data.resolution for c in levels),
              clip_frames=max(spans), class_from_folder=d.num_classes > 0)
