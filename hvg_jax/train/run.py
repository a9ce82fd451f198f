"""One level in training, described once: :class:`LevelRun`, built when the level starts.

Everything a level's training is given or derives before its first step lives here: its
config (validated once) and shapes, its workdir (hvg_jax.layout, absolute from here on), the
device mesh, the frozen lower levels it upsamples and its data source. The loop, the
samples, finishing and the periodic evaluation take the run rather than each of these.
:func:`start` checks the config, the batch split, the data and the lower levels before
anything is written or compiled; the workdir (writable, not in use) and the periodic
evaluation's settings are checked next, still before the first compile
(hvg_jax.train.trainer).
"""

import contextlib
import dataclasses
import logging

import jax
import ml_collections

from hvg_jax import config_lib, runtime
from hvg_jax import level as level_lib
from hvg_jax.chain import generate as chain_gen
from hvg_jax.chain import levels as chain_levels
from hvg_jax.data import pipeline
from hvg_jax.errors import UserError
from hvg_jax.layout import LevelDir, RunDir


class WorkdirError(UserError, OSError):
  """The workdir cannot be created or written."""


@dataclasses.dataclass
class LevelRun:
  """One level's training: what it is (config, shapes), where (dir, mesh), on what (the
  frozen lower levels, the data source)."""
  config: ml_collections.ConfigDict
  shapes: config_lib.LevelShapes
  dir: LevelDir
  mesh: jax.sharding.Mesh
  lower: chain_gen.LowerLevels | None
  source: object  # the level's random-access training data (hvg_jax.data.pipeline)

  @property
  def is_main(self) -> bool:
    """Whether this process writes what only one writes (samples, the log's overview)."""
    return jax.process_index() == 0

  @property
  def lower_arrays(self):
    """The frozen lower levels' arrays, as the jitted programs take them (None: level 1)."""
    return self.lower.arrays if self.lower is not None else None

  def chain(self, graphdef, state, step: int) -> list[level_lib.FrozenLevel]:
    """The frozen lower levels and, on top, the level being trained (its sampling
    generator, with the statistics it holds)."""
    level = level_lib.from_training_state(self.config, graphdef, state,
                                          workdir=self.dir, step=step)
    return (self.lower.levels if self.lower is not None else []) + [level]


def check_batch_split(config: ml_collections.ConfigDict):
  devices = jax.device_count()
  if config.train.batch_size % devices:
    raise config_lib.ConfigError(
        f"config.train.batch_size: {config.train.batch_size} does not split over the "
        f"{devices} devices; use a multiple of {devices}")


def start(config: ml_collections.ConfigDict, workdir: LevelDir | str) -> LevelRun:
  """The run of ``config``'s level in ``workdir``: the config validated, the batch checked
  to split over the devices, the data found, the frozen lower levels restored and checked
  to chain (``config.lower_levels``). Nothing is written yet."""
  shapes = config_lib.level_shapes(config)  # validates the config (once per process)
  check_batch_split(config)
  runtime.keep_tensorflow_off_accelerators()
  source = pipeline.get_source(config)  # the data is there and fits the level
  mesh = runtime.make_mesh()
  lower = None
  if config.level > 1:
    levels = chain_levels.load_lower(config, sharding=runtime.replicated(mesh))
    for lv in levels:
      logging.info("Level %d (frozen): %s", lv.config.level, lv.source)
    lower = chain_gen.LowerLevels(levels, shapes.input_train_frames)
  return LevelRun(config=config, shapes=shapes, dir=LevelDir.of(workdir), mesh=mesh,
                  lower=lower, source=source)


def check_writable(workdir: RunDir):
  """Creates ``workdir`` and proves it writable, or raises WorkdirError saying why."""
  try:
    workdir.path.mkdir(parents=True, exist_ok=True)
    probe = workdir.path / f".write_test.{jax.process_index()}"
    probe.write_text("ok")
    probe.unlink()
  except OSError as e:
    raise WorkdirError(f"--workdir={workdir} is not a writable directory ({e}); pass a "
                       "directory this process can create and write") from None


@contextlib.contextmanager
def removed_if_left_empty(workdir: RunDir):
  """Removes ``workdir`` again when this run created it and fails before saving anything
  in it (nothing but empty folders, hidden files and the start of a TensorBoard log), so
  the next try starts as if this one never ran."""
  created = not workdir.exists()
  try:
    yield
  except BaseException:
    if created and workdir.exists() and jax.process_index() == 0 and not any(
        not name.startswith((".", "events.out.tfevents"))
        for _, _, files in workdir.path.walk() for name in files):
      workdir.path.rmtree(missing_ok=True)
    raise
