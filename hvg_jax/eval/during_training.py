"""Evaluation during training (``config.eval.every_steps``): the chain up to the level in
training scored against its data, and the best generator kept (hvg_jax.eval.best)."""

import json
import logging
import time

import jax

from hvg_jax.eval import evaluation
from hvg_jax.eval.best import BestGenerator
from hvg_jax.layout import LevelDir
from hvg_jax.level import FrozenLevel


class PeriodicEvaluation:
  """config.eval every ``every_steps``: the chain up to this level scored against its data
  (metrics to TensorBoard and ``<workdir>/eval/step_<N>``), the best generator kept."""

  def __init__(self, config, workdir: LevelDir, mesh):
    e = config.eval
    self.config, self.workdir, self.mesh = config, workdir, mesh
    self.passes = e.standing_passes or config.sample.standing_passes
    # Before anything compiles: the real clips are long enough, I3D's weights load.
    self.settings = evaluation.fit_to_data(
        evaluation.settings(e, standing_passes=self.passes), config)
    self.evaluator = evaluation.Evaluator(self.settings, mesh=mesh)
    ranked = {k: v for k, v in self.settings.to_dict().items()
              if k not in ("i3d_weights", "cache_dir")}
    ranked["i3d"] = self.evaluator.weights_id
    self.best = BestGenerator(workdir, e.best_metric, json.loads(json.dumps(ranked)))
    self.seconds = 0.0  # spent evaluating, left out of the training throughput

  def due(self, step: int, last: bool) -> bool:
    return step % self.config.eval.every_steps == 0 or last

  def __call__(self, step: int, levels: list[FrozenLevel], writer, make_best):
    """Evaluates the chain ``levels`` whose top is the level in training (its statistics
    are recomputed at the evaluated length). ``make_best(passes)`` returns that level with
    standing statistics for its whole video, called only when it is the best so far."""
    start = time.time()
    results = self.evaluator(levels, recompute=[len(levels) - 1])
    if jax.process_index() == 0:
      evaluation.write(self.workdir.eval(step), results,
                       settings=self.settings, levels=levels, step=step, writer=writer)
    if self.best.update(step, results.metrics, lambda: make_best(self.passes)):
      logging.info("Step %d: best %s so far (%.6g); its generator is in %s.", step,
                   self.best.metric, results.metrics[self.best.metric],
                   self.best.record["generator"])
    elif self.best.record is not None:
      logging.info("Step %d: %s %.6g, not better than step %d's %.6g.", step,
                   self.best.metric, results.metrics[self.best.metric],
                   self.best.record["step"], self.best.record["value"])
    self.seconds += time.time() - start
