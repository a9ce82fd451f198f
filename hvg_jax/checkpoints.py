"""Orbax checkpoints of a level's training: the state, with the config saved beside it.

Saves are asynchronous (training goes on while they are written) and atomic: a checkpoint
directory appears only once complete, so a crash or a kill mid-save leaves the previous
ones intact. The last ``config.train.keep_checkpoints`` are kept. (A finished level's
sampling generator is saved beside them: hvg_jax.level.)

A checkpoint that cannot be restored (a damaged file, a missing or garbled metadata file)
is moved to ``<workdir>/checkpoints_unreadable/`` with a warning, never deleted, and the run
resumes from the newest one that restores. A save that fails on an I/O error (a full disk)
stops the run with one line; its partial directory is removed, the earlier ones stay.
"""

import contextlib
import logging
import re
import time

import jax
import ml_collections
import orbax.checkpoint as ocp
from jax.experimental import multihost_utils
from clu import parameter_overview
from flax import nnx

from hvg_jax import config_lib
from hvg_jax.files import io_reason, is_io_error
from hvg_jax.layout import LevelDir
from hvg_jax.errors import UserError

# Fields that define what a checkpoint's arrays mean: a run may not resume with others.
_ARCHITECTURE_FIELDS = ("level", "data.num_classes", "data.frames", "data.resolution",
                        "data.subsample", "model")
# Model fields that only change how the computation runs.
_EXECUTION_FIELDS = ("model.g.scan_unroll", "model.dtype", "model.remat")
# Fields that change the data order or the randomness: resuming with other values works,
# but no longer continues as the uninterrupted run would have.
_ORDER_FIELDS = ("seed", "data.name", "data.storage", "data.seed", "data.flip",
                 "data.num_videos", "train.batch_size", "train.d_steps")


class CheckpointError(UserError, OSError):
  """No checkpoint of a run can be restored, or one could not be saved."""


def damage_reason(e: BaseException) -> str:
  """Why a checkpoint could not be read, in one line: for TensorStore's nested message
  (``DATA_LOSS: Error opening ... local file "<f>": <cause>``, then the JSON spec of its
  driver stack) the file and the innermost cause."""
  text = " ".join(str(e).split(" [tensorstore_spec")[0].split()) or type(e).__name__
  files = list(re.finditer(r'local file "([^"]+)"', text))
  if files:
    code = re.match(r"([A-Z_]+): ", text)
    cause = text[files[-1].end():].lstrip(": ")
    text = f"{code.group(1) + ' ' if code else ''}reading {files[-1].group(1)}: {cause}"
  return text if len(text) <= 300 else text[:300] + " ..."


def _normalise(value):
  return list(value) if isinstance(value, tuple) else value


def config_differences(saved: dict, config: ml_collections.ConfigDict) -> dict:
  """{field: (saved value, current value)} for every field that differs; a field added
  since ``saved`` was written counts at its default (config_lib.from_saved)."""
  current = parameter_overview.flatten_dict(config.to_dict(), delimiter=".")
  saved = parameter_overview.flatten_dict(config_lib.from_saved(saved).to_dict(),
                                          delimiter=".")
  return {k: (saved.get(k), current.get(k)) for k in sorted(set(saved) | set(current))
          if _normalise(saved.get(k)) != _normalise(current.get(k))}


class Checkpoints:
  """The checkpoints of one level's workdir (``<workdir>/checkpoints/<step>/{state,config}``)."""

  def __init__(self, workdir: LevelDir | str, config: ml_collections.ConfigDict | None = None):
    """With ``config`` (training) the directory is created and old checkpoints pruned;
    without it, the checkpoints are only read."""
    self.workdir = LevelDir.of(workdir)
    self.directory = self.workdir.checkpoints
    if config is None:
      options = ocp.CheckpointManagerOptions(read_only=True, save_interval_steps=0,
                                             create=False)
    else:
      options = ocp.CheckpointManagerOptions(
          max_to_keep=config.train.keep_checkpoints, enable_async_checkpointing=True,
          create=True, cleanup_tmp_directories=True)
    self.manager = ocp.CheckpointManager(self.directory, options=options,
                                         item_names=("state", "config"))
    self.failed = False  # a save failed (reported once)

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

  def restore_latest(self, config: ml_collections.ConfigDict, abstract_state):
    """(step, state) of the newest checkpoint that restores, or (0, None) when there is
    none; ``abstract_state()`` gives the layout to fill.

    Checkpoints newer than the one restored that cannot be read are moved aside with a
    warning. Raises ConfigError if the run is of another model (:meth:`check_compatible`),
    CheckpointError if there are checkpoints and none restores (they stay where they are).
    """
    failed = []
    for step in sorted(self.manager.all_steps(), reverse=True):
      try:
        self.check_compatible(step, config)
        state = self.restore(step, abstract_state())
      except config_lib.ConfigError:
        raise
      except Exception as e:  # pylint: disable=broad-except
        # Orbax, TensorStore and JSON report damage in many ways (ValueError, KeyError,
        # FileNotFoundError, zstd errors, ...): whatever stops this step, try the one before.
        logging.warning("The checkpoint of step %d in %s cannot be restored: %s", step,
                        self.directory, damage_reason(e))
        failed.append((step, damage_reason(e)))
        continue
      for bad, _ in failed:
        self._move_aside(bad)
      return step, state
    if failed:
      listed = "; ".join(f"step {step}: {reason}" for step, reason in failed)
      raise CheckpointError(
          f"no checkpoint in {self.directory} can be restored ({listed}). Restore the "
          "directory from a copy, or move it away to start the level over.")
    return 0, None

  def _move_aside(self, step: int):
    """Moves the checkpoint of ``step`` to <workdir>/checkpoints_unreadable (process 0)."""
    aside = self.workdir.checkpoints_unreadable / f"{step}.{int(time.time())}"
    if jax.process_index() == 0:
      aside.parent.mkdir(parents=True, exist_ok=True)
      (self.directory / str(step)).rename(aside)
      logging.warning("Moved the unreadable checkpoint of step %d to %s; resuming from an "
                      "earlier one.", step, aside)
    multihost_utils.sync_global_devices(f"checkpoint {step} moved aside")
    self.manager.reload()

  def restore(self, step: int, abstract_state: nnx.State) -> nnx.State:
    """The state saved at ``step``, laid out as ``abstract_state`` (shapes, shardings),
    which it fills in place."""
    target = nnx.to_pure_dict(abstract_state)
    restored = self.manager.restore(
        step, args=ocp.args.Composite(state=ocp.args.StandardRestore(target)))["state"]
    nnx.replace_by_pure_dict(abstract_state, restored)
    return abstract_state

  def save(self, step: int, state: nnx.State, config: ml_collections.ConfigDict):
    """Starts an asynchronous save of ``state`` and ``config`` as checkpoint ``step`` (an
    error of the previous save surfaces here)."""
    with self._saving():
      self.manager.save(step, args=ocp.args.Composite(
          state=ocp.args.StandardSave(nnx.to_pure_dict(state)),
          config=ocp.args.JsonSave(config.to_dict())), force=True)

  def reached_preemption(self, step: int) -> bool:
    return self.manager.reached_preemption(step)

  def wait(self):
    """Waits for the save in flight; raises CheckpointError if it failed."""
    with self._saving():
      self.manager.wait_until_finished()

  def close(self):
    with self._saving():
      self.manager.close()

  @contextlib.contextmanager
  def _saving(self):
    """Turns an I/O error of a save into one CheckpointError (once) and removes the partial
    checkpoint; the earlier ones are complete (saves are atomic)."""
    if self.failed:  # already reported: closing must not report it again
      with contextlib.suppress(Exception):
        yield
      return
    try:
      yield
    except Exception as e:  # pylint: disable=broad-except
      if not is_io_error(e):
        raise
      self.failed = True
      # The failed save's other write tasks report the same error again when collected.
      logging.getLogger("asyncio").setLevel(logging.CRITICAL)
      if jax.process_index() == 0:
        for partial in self.directory.glob("*.orbax-checkpoint-tmp*"):
          partial.rmtree(missing_ok=True)
      raise CheckpointError(
          f"a checkpoint could not be saved in {self.directory}: {io_reason(e)}. The "
          "earlier checkpoints are intact and the partial one was removed: free space or fix "
          "the storage, then run the command again to resume.") from None
