"""Grounding of every upsampling level: downsample(x^l) against its input x^{l-1}
(``grounding/level<k>_mse``, ``_mae``, ``_mse_shuffled``, their ``_ratio``, and
``grounding``: the top level's MSE)."""

import logging

import numpy as np

from hvg_jax.config_lib import validation
from hvg_jax.eval import grounding as grounding_lib
from hvg_jax.eval.metrics.registry import register
from hvg_jax.eval.metrics.base import Metric


@register
class Grounding(Metric):
  name = "grounding"
  best_mode = "min"
  table_rank = 0

  def check(self, e, level):
    validation.check(not e.every_steps or e.best_metric != self.name or level > 1,
                     "config.eval.best_metric: grounding measures an upsampling level; "
                     "level 1 has none")

  def videos(self, s):
    return s.num_clips

  def for_chain(self, levels):
    if len(levels) < 2:
      logging.info("Grounding left out: it measures an upsampling level, and this chain "
                   "has only level 1.")
      return False
    return True

  def start(self, s, levels):
    # Per value name: (batch value, batch size) pairs, averaged weighted at the end.
    return {"factors": [lv.shapes.time_factor for lv in levels], "parts": {}}

  def update(self, state, batch):
    videos = batch.videos
    for k in range(1, len(videos)):
      g = grounding_lib.grounding(videos[k], videos[k - 1], state["factors"][k])
      for name, value in g.items():
        state["parts"].setdefault(f"grounding/level{k + 1}_{name}", []).append(
            (value, len(videos[k])))

  def result(self, state, ctx):
    metrics = {}
    for name, parts in state["parts"].items():
      values, counts = np.array(parts).T
      metrics[name] = float(np.sum(values * counts) / np.sum(counts))
    top = len(ctx.levels)
    for k in range(2, top + 1):
      shuffled = metrics.get(f"grounding/level{k}_mse_shuffled")
      if shuffled:  # the grounding ratio: 0 follows its input, about 1 ignores it
        metrics[f"grounding/level{k}_ratio"] = metrics[f"grounding/level{k}_mse"] / shuffled
    if state["parts"]:
      metrics["grounding"] = metrics[f"grounding/level{top}_mse"]
    return metrics

  def table(self, group, m, s, levels):
    lines = []
    for k in range(2, len(levels) + 1):
      if f"grounding/level{k}_mse" in m:
        ratio = m.get(f"grounding/level{k}_ratio")
        lines.append(
            f"  level {k} grounding: MSE {m[f'grounding/level{k}_mse']:.4g} "
            f"(shuffled pairs {m.get(f'grounding/level{k}_mse_shuffled', float('nan')):.4g}"
            f", ratio {ratio:.3f})" if ratio is not None else
            f"  level {k} grounding: MSE {m[f'grounding/level{k}_mse']:.4g}")
    return lines
