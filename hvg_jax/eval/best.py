"""The best generator of a level's training by an evaluation metric (early stopping).

Every evaluation during training (config.eval.every_steps) is compared with the best so
far by ``config.eval.best_metric`` (lower FVD, FID, grounding; higher IS). A better one is
saved as ``<workdir>/best/step_<N>`` — a one-level export (the sampling generator with
standing statistics for the level's whole video), usable wherever a level is named:

  python -m hvg_jax.sample --chain=runs/level1,runs/level2/best/step_40000 ...
  --config.lower_levels=runs/level1,runs/level2/best/step_40000   (the next level)

The directory is an Orbax ``CheckpointManager`` kept with its own best-checkpoint options
(``best_fn`` on the saved metrics, ``best_mode``, ``max_to_keep=1``): a save is atomic, so a
crash never leaves a best without its generator, and Orbax removes the one it beats. The
generator's standing statistics are computed only when the value is better (they cost
passes over the level's whole video), so the comparison with the saved best is made
here first; a non-finite value is never best. A resumed run keeps comparing with the saved
best; a best ranked by another metric or other evaluation settings is moved aside to
``<workdir>/best_set_aside/`` (never deleted) and ranking starts afresh.
"""

import logging
import math
import time

import jax
import orbax.checkpoint as ocp

from hvg_jax import level as level_lib
from hvg_jax.eval.metrics import METRICS
from hvg_jax.layout import BEST_STEP_PREFIX, LevelDir


def _manager(directory, mode: str, read_only: bool = False) -> ocp.CheckpointManager:
  options = ocp.CheckpointManagerOptions(
      max_to_keep=1, best_fn=lambda saved: saved["value"], best_mode=mode,
      step_prefix=BEST_STEP_PREFIX, enable_async_checkpointing=False, read_only=read_only,
      create=not read_only)
  return ocp.CheckpointManager(directory, options=options,
                               item_names=("generators", "configs"))


class BestGenerator:
  """Keeps ``<workdir>/best`` up to date with the best evaluation by ``metric``.

  ``settings`` (what the evaluation computed on: clips, weights, ...) is saved with each
  best: values measured otherwise are not compared.
  """

  def __init__(self, workdir: LevelDir | str, metric: str, settings: dict | None = None):
    self.workdir = LevelDir.of(workdir)
    self.directory = self.workdir.best
    self.metric = metric
    self.mode = METRICS[metric].best_mode
    self.settings = settings or {}
    self.record = self.load(workdir)
    if self.record and (self.record["metric"] != metric
                        or self.record.get("settings", {}) != self.settings):
      logging.warning("The best generator in %s was ranked by %s with other evaluation "
                      "settings; it is moved to %s and ranking starts afresh.",
                      self.directory, self.record["metric"],
                      self.workdir.best_set_aside)
      self._set_aside()
      self.record = None
    self._manager = _manager(self.directory, self.mode)

  @staticmethod
  def load(workdir: LevelDir | str) -> dict | None:
    """The saved best ({"metric", "mode", "step", "value", "metrics", "settings",
    "generator"}), or None."""
    workdir = LevelDir.of(workdir)
    directory = workdir.best
    if not directory.exists():
      return None
    manager = _manager(directory, "min", read_only=True)
    try:
      steps = manager.all_steps()
      if not steps:
        return None
      step = steps[-1]  # max_to_keep=1: the one kept is the best
      saved = manager.metrics(step)
      return dict(saved, step=step, generator=str(workdir.best_generator(step)))
    finally:
      manager.close()

  def _set_aside(self):
    if jax.process_index() == 0:
      aside = (self.workdir.best_set_aside
               / f"{time.strftime('%Y%m%d-%H%M%S')}.{time.time_ns()}")
      aside.parent.mkdir(parents=True, exist_ok=True)
      self.directory.rename(aside)

  def is_better(self, value: float) -> bool:
    if not math.isfinite(value):
      return False
    if self.record is None or not math.isfinite(self.record["value"]):
      return True
    best = self.record["value"]
    return value < best if self.mode == "min" else value > best

  def update(self, step: int, metrics: dict, make_level) -> bool:
    """Saves the generator ``make_level()`` returns if ``metrics`` beat the best.
    Returns whether it did."""
    value = metrics[self.metric]
    if not self.is_better(value):
      return False
    record = {"metric": self.metric, "mode": self.mode, "value": value,
              "metrics": metrics, "settings": self.settings}
    level = make_level()
    if step in self._manager.all_steps():  # a step evaluated again, now better
      self._manager.delete(step)
    self._manager.save(step, args=level_lib.export_args([level], step), metrics=record,
                       force=True)
    self._manager.wait_until_finished()
    self.record = dict(record, step=step,
                       generator=str(self.workdir.best_generator(step)))
    return True
