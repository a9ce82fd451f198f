"""Orbax checkpoints of a level's training: the state, with the config saved beside it.

Saves are asynchronous (training goes on while they are written) and atomic: a checkpoint
directory appears only once complete, so a crash or a kill mid-save leaves the previous
ones intact. The last ``config.train.keep_checkpoints`` are kept. (A finished level's
sampling generator is saved beside them: hvg_jax.chain.levels.save_finished.)
"""

import logging
import os

import ml_collections
import orbax.checkpoint as ocp
from clu import parameter_overview
from etils import epath
from flax import nnx

from hvg_jax import config_lib

# Fields that define what a checkpoint's arrays mean: a run may not resume with others.
_ARCHITECTURE_FIELDS = ("level", "data.num_classes", "data.frames", "data.resolution",
                        "data.subsample", "model")
# Model fields that only change how the computation runs.
_EXECUTION_FIELDS = ("model.g.scan_unroll", "model.dtype", "model.remat")
# Fields that change the data order or the randomness: resuming with other values works,
# but no longer continues as the uninterrupted run would have.
_ORDER_FIELDS = ("seed", "data.name", "data.storage", "data.seed", "data.num_videos",
                 "train.batch_size", "train.d_steps")


class _QuietCheckpointing(logging.Filter):
  """Orbax logs every step of every save at INFO; keep its warnings and errors."""

  def filter(self, record):
    return record.levelno >= logging.WARNING or "/orbax/" not in record.pathname


def quiet_orbax_logging():
  """For the commands: Orbax's warnings and errors, not its INFO lines."""
  from absl import logging as absl_logging  # pylint: disable=g-import-not-at-top
  absl_logging.get_absl_handler().addFilter(_QuietCheckpointing())


def absolute(path) -> epath.Path:
  """``path`` as an absolute path (Orbax needs one); URLs such as gs://... as they are."""
  path = str(path)
  return epath.Path(path if "://" in path else os.path.abspath(path))


def _normalise(value):
  return list(value) if isinstance(value, tuple) else value


def config_differences(saved: dict, config: ml_collections.ConfigDict) -> dict:
  """{field: (saved value, current value)} for every field that differs."""
  current = parameter_overview.flatten_dict(config.to_dict(), delimiter=".")
  saved = parameter_overview.flatten_dict(saved, delimiter=".")
  return {k: (saved.get(k), current.get(k)) for k in sorted(set(saved) | set(current))
          if _normalise(saved.get(k)) != _normalise(current.get(k))}


class Checkpoints:
  """The checkpoints of one workdir (``workdir/checkpoints/<step>/{state,config}``)."""

  def __init__(self, workdir, config: ml_collections.ConfigDict | None = None):
    """With ``config`` (training) the directory is created and old checkpoints pruned;
    without it, the checkpoints are only read."""
    self.directory = absolute(workdir) / "checkpoints"
    if config is None:
      options = ocp.CheckpointManagerOptions(read_only=True, save_interval_steps=0,
                                             create=False)
    else:
      options = ocp.CheckpointManagerOptions(
          max_to_keep=config.train.keep_checkpoints, enable_async_checkpointing=True,
          create=True, cleanup_tmp_directories=True)
    self.manager = ocp.CheckpointManager(self.directory, options=options,
                                         item_names=("state", "config"))

  def latest_step(self) -> int | None:
    return self.manager.latest_step()

  def saved_config(self, step: int) -> dict:
    return self.manager.restore(step, args=ocp.args.Composite(config=ocp.args.JsonRestore()))[
        "config"]

  def check_compatible(self, step: int, config: ml_collections.ConfigDict):
    """Raises ConfigError if the run in this workdir has another architecture or data."""
    diffs = config_differences(self.saved_config(step), config)
    breaking = {k: v for k, v in diffs.items() if k not in _EXECUTION_FIELDS and
                any(k == f or k.startswith(f + ".") for f in _ARCHITECTURE_FIELDS)}
    ema = diffs.get("train.ema_decay")
    if ema and (ema[0] is None) != (ema[1] is None):  # the state has an EMA of G or not
      breaking["train.ema_decay"] = ema
    if breaking:
      listed = "; ".join(f"config.{k}: saved {a!r}, now {b!r}" for k, (a, b) in breaking.items())
      raise config_lib.ConfigError(
          f"the checkpoints in {self.directory} are of another model: {listed}. "
          "Use another --workdir, or the config the run was started with.")
    for k, (a, b) in diffs.items():
      if k in _ORDER_FIELDS:
        logging.warning("Resuming with config.%s = %r (the run started with %r): the run "
                        "goes on, but not as the uninterrupted one would have.", k, b, a)
      else:
        logging.info("Resuming with config.%s = %r (the run started with %r).", k, b, a)

  def restore(self, step: int, abstract_state: nnx.State) -> nnx.State:
    """The state saved at ``step``, laid out as ``abstract_state`` (shapes, shardings),
    which it fills in place."""
    target = nnx.to_pure_dict(abstract_state)
    restored = self.manager.restore(
        step, args=ocp.args.Composite(state=ocp.args.StandardRestore(target)))["state"]
    nnx.replace_by_pure_dict(abstract_state, restored)
    return abstract_state

  def save(self, step: int, state: nnx.State, config: ml_collections.ConfigDict):
    """Starts an asynchronous save of ``state`` and ``config`` as checkpoint ``step``."""
    self.manager.save(step, args=ocp.args.Composite(
        state=ocp.args.StandardSave(nnx.to_pure_dict(state)),
        config=ocp.args.JsonSave(config.to_dict())), force=True)

  def reached_preemption(self, step: int) -> bool:
    return self.manager.reached_preemption(step)

  def wait(self):
    self.manager.wait_until_finished()

  def close(self):
    self.manager.close()
