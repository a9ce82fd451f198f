"""The best generator of a level's training by an evaluation metric (early stopping).

Every evaluation during training (config.eval.every_steps) is compared with the best so
far by ``config.eval.best_metric`` (lower FVD, FID, grounding; higher IS). A better one is
saved as ``<workdir>/best/step_<N>`` — a one-level export (the sampling generator with
standing statistics for the level's whole video), usable wherever a level is named:

  python -m hvg_jax.sample --chain=runs/level1,runs/level2/best/step_40000 ...
  --config.lower_levels=runs/level1,runs/level2/best/step_40000   (the next level)

``<workdir>/best/best.json`` names it with its metrics and is written only once the
export is complete, so a crash never leaves a best without its generator; older best
generators are then removed. A resumed run keeps comparing with the saved best.
"""

import json

import jax

from hvg_jax import config_lib
from hvg_jax.chain import levels as chain_levels
from hvg_jax.train.checkpoints import absolute

BEST_DIR = "best"


class BestGenerator:
  """Keeps ``<workdir>/best`` up to date with the best evaluation by ``metric``."""

  def __init__(self, workdir, metric: str):
    self.directory = absolute(workdir) / BEST_DIR
    self.metric = metric
    self.mode = config_lib.BEST_MODES[metric]
    self.record = self.load(workdir)
    if self.record and self.record["metric"] != metric:  # ranked by another metric before
      self.record = None

  @staticmethod
  def load(workdir) -> dict | None:
    """The saved best record ({"metric", "step", "value", "metrics", "generator"})."""
    path = absolute(workdir) / BEST_DIR / "best.json"
    return json.loads(path.read_text()) if path.exists() else None

  def is_better(self, value: float) -> bool:
    if self.record is None:
      return True
    best = self.record["value"]
    return value < best if self.mode == "min" else value > best

  def update(self, step: int, metrics: dict, make_level) -> bool:
    """Saves the generator ``make_level()`` returns if ``metrics`` beat the best.
    Returns whether it did."""
    value = metrics[self.metric]
    if not self.is_better(value):
      return False
    path = self.directory / f"step_{step}"
    chain_levels.write_export(path, [make_level()], step=step, overwrite=True)
    self.record = {"metric": self.metric, "mode": self.mode, "step": step, "value": value,
                   "metrics": metrics, "generator": str(path)}
    if jax.process_index() == 0:
      tmp = self.directory / ".best.json.tmp"
      tmp.write_text(json.dumps(self.record, indent=2))
      tmp.replace(self.directory / "best.json")
      for old in self.directory.glob("step_*"):
        if old.name != path.name:
          old.rmtree()
    return True

