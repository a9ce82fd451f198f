"""The best generator of a level's training by an evaluation metric (early stopping).

Every evaluation during training (config.eval.every_steps) is compared with the best so
far by ``config.eval.best_metric`` (lower FVD, FID, grounding; higher IS). A better one is
saved as ``<workdir>/best/step_<N>`` — a one-level export (the sampling generator with
standing statistics for the level's whole video), usable wherever a level is named:

  python -m hvg_jax.sample --chain=runs/level1,runs/level2/best/step_40000 ...
  --config.lower_levels=runs/level1,runs/level2/best/step_40000   (the next level)

``<workdir>/best/best.json`` names it with its metrics and is written only once the
export is complete (always into a new directory), so a crash never leaves a best without
its generator; older best generators are then removed. A resumed run keeps comparing with
the saved best. A non-finite value is never best. The saved generator's standing
statistics are computed for the level's whole video (as when a level finishes), not the
evaluated length.
"""

import json
import logging
import math

import jax
from etils import epath

from hvg_jax import config_lib
from hvg_jax.chain import levels as chain_levels
from hvg_jax.train.checkpoints import absolute

BEST_DIR = "best"


class BestGenerator:
  """Keeps ``<workdir>/best`` up to date with the best evaluation by ``metric``.

  ``settings`` (what the evaluation computed on: clips, weights, ...) is saved with the
  record: values measured otherwise are not compared, the saved best is set aside.
  """

  def __init__(self, workdir, metric: str, settings: dict | None = None):
    self.directory = absolute(workdir) / BEST_DIR
    self.metric = metric
    self.mode = config_lib.BEST_MODES[metric]
    self.settings = settings or {}
    self.record = self.load(workdir)
    if self.record and (self.record["metric"] != metric
                        or self.record.get("settings", {}) != self.settings):
      logging.warning("The best generator in %s was ranked by %s with other evaluation "
                      "settings; ranking starts afresh.", self.directory,
                      self.record["metric"])
      self.record = None

  @staticmethod
  def load(workdir) -> dict | None:
    """The saved best record ({"metric", "step", "value", "metrics", "generator", ...})."""
    path = absolute(workdir) / BEST_DIR / "best.json"
    return json.loads(path.read_text()) if path.exists() else None

  def is_better(self, value: float) -> bool:
    if not math.isfinite(value):
      return False
    if self.record is None or not math.isfinite(self.record["value"]):
      return True
    best = self.record["value"]
    return value < best if self.mode == "min" else value > best

  def _new_path(self, step: int) -> epath.Path:
    """A directory no record points to (a resumed run may evaluate a step again)."""
    path, attempt = self.directory / f"step_{step}", 1
    while path.exists():
      attempt += 1
      path = self.directory / f"step_{step}_{attempt}"
    return path

  def update(self, step: int, metrics: dict, make_level) -> bool:
    """Saves the generator ``make_level()`` returns if ``metrics`` beat the best.
    Returns whether it did."""
    value = metrics[self.metric]
    if not self.is_better(value):
      return False
    path = self._new_path(step)
    chain_levels.write_export(path, [make_level()], step=step)
    self.record = {"metric": self.metric, "mode": self.mode, "step": step, "value": value,
                   "metrics": metrics, "generator": str(path), "settings": self.settings}
    if jax.process_index() == 0:
      tmp = self.directory / ".best.json.tmp"
      tmp.write_text(json.dumps(self.record, indent=2, default=str))
      tmp.replace(self.directory / "best.json")  # the new best only once it is complete
      for old in self.directory.glob("step_*"):
        if old.name != path.name:
          old.rmtree()
    return True
