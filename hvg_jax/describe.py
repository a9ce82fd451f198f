r"""Describes a level's networks without allocating their weights.

  python -m hvg_jax.describe --config=configs/bdd_level3.py
  python -m hvg_jax.describe --config=configs/bdd_level3.py:runlocal --nofull_table

Prints what the level trains on, then for G and each discriminator: the parameter table
(clu's parameter overview), the parameter count, input and output shapes, and the FLOPs of
one forward pass per example from XLA's cost analysis. Everything is abstract
(``nnx.eval_shape`` and ``jit(...).lower``), so paper-size models describe on a laptop.
"""

import dataclasses

import jax
import jax.numpy as jnp
import ml_collections
from absl import app, flags
from clu import parameter_overview
from flax import nnx
from ml_collections import config_flags

from hvg_jax import cli, config_lib, models

_CONFIG = config_flags.DEFINE_config_file("config", None, "Level config file.",
                                          lock_config=True)
_FULL_TABLE = flags.DEFINE_bool("full_table", True,
                                "Print every parameter; otherwise the first 20 rows.")


@dataclasses.dataclass
class NetworkSummary:
  name: str
  num_params: int
  table: str
  inputs: dict  # name -> shape, for one example
  output: tuple
  flops: float  # one forward pass, one example


def _abstract(shape, dtype=jnp.float32):
  return jax.ShapeDtypeStruct(tuple(shape), dtype)


def _summarize(name, module, call, inputs, max_lines) -> NetworkSummary:
  """Lowers ``call(module, *inputs)`` abstractly and collects its sizes and FLOPs."""
  graphdef, state = nnx.split(module)

  def forward(state, *args):
    return call(nnx.merge(graphdef, state, copy=True), *args)

  args = [v for v in inputs.values() if v is not None]
  output = jax.eval_shape(forward, state, *args)
  cost = jax.jit(forward).lower(state, *args).cost_analysis() or {}
  params = nnx.to_pure_dict(nnx.state(module, nnx.Param))
  return NetworkSummary(
      name=name,
      num_params=parameter_overview.count_parameters(params),
      table=parameter_overview.get_parameter_overview(
          params, include_stats=False, max_lines=max_lines),
      inputs={k: tuple(v.shape) for k, v in inputs.items() if v is not None},
      output=tuple(output.shape),
      flops=float(cost.get("flops", float("nan"))))


def describe(config: ml_collections.ConfigDict, *, max_lines: int | None = None):
  """Summaries of G, D_S, D_T and (upsampling levels) D_M for one example each."""
  shapes = config_lib.level_shapes(config)
  g = nnx.eval_shape(lambda: models.build_generator(config, rngs=nnx.Rngs(0)))
  d = nnx.eval_shape(lambda: models.build_discriminators(config, rngs=nnx.Rngs(0)))
  labels = _abstract((1,), jnp.int32) if shapes.num_classes else None
  video = _abstract((1, shapes.train_frames, shapes.resolution, shapes.resolution, 3))
  z = _abstract((1, config.model.g.z_dim))
  key = jax.random.key(0)

  if shapes.upsampling:
    low = _abstract((1, shapes.input_train_frames, shapes.input_resolution,
                     shapes.input_resolution, 3))
    summaries = [_summarize(f"G ({type(g).__name__})", g,
                            lambda m, *a: m(*a),
                            {"z": z, "video_low": low, "labels": labels}, max_lines)]
  else:
    low = None
    summaries = [_summarize(f"G ({type(g).__name__})", g, lambda m, *a: m(*a),
                            {"z": z, "labels": labels}, max_lines)]
  summaries.append(_summarize("D_S (spatial)", d.spatial,
                              lambda m, *a: m(*a, key=key),
                              {"video": video, "labels": labels}, max_lines))
  summaries.append(_summarize("D_T (temporal)", d.temporal, lambda m, *a: m(*a),
                              {"video": video, "labels": labels}, max_lines))
  if d.matching is not None:
    summaries.append(_summarize("D_M (matching)", d.matching, lambda m, *a: m(*a),
                                {"video": video, "video_low": low, "labels": labels},
                                max_lines))
  return shapes, summaries


def _level_line(config, shapes) -> str:
  s = shapes
  out = f"{s.train_frames}/{s.resolution}x{s.resolution}"
  if not s.upsampling:
    cond = f"{s.num_classes} classes" if s.num_classes else "unconditional"
    return f"level 1: noise -> {out} ({cond}), frame stride {config.data.subsample}"
  window = (f"windows of {s.input_train_frames} of the {s.input_video_frames} input frames"
            if s.input_train_frames != s.input_video_frames else "whole input videos")
  return (f"level {s.level}: upsamples {s.input_train_frames}/{s.input_resolution}x"
          f"{s.input_resolution} -> {out} ({window}); whole video "
          f"{s.input_video_frames} -> {s.video_frames} frames, frame stride "
          f"{config.data.subsample}")


def _fmt_count(n: float) -> str:
  for unit, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
    if abs(n) >= scale:
      return f"{n / scale:.2f}{unit}"
  return f"{n:.0f}"


def format_report(config, shapes, summaries) -> str:
  lines = [f"{config.name}: {_level_line(config, shapes)}", ""]
  for s in summaries:
    lines += [f"== {s.name}: {s.num_params:,} parameters ({_fmt_count(s.num_params)})",
              "   inputs:  " + ", ".join(f"{k} {v}" for k, v in s.inputs.items()),
              f"   output:  {s.output}",
              f"   FLOPs of one forward pass, per example: {s.flops:.4g} "
              f"({_fmt_count(s.flops)}FLOP)",
              s.table, ""]
  lines.append("Totals: " + ", ".join(f"{s.name.split()[0]} {_fmt_count(s.num_params)} "
                                      f"params / {_fmt_count(s.flops)}FLOP"
                                      for s in summaries))
  return "\n".join(lines)


def main(argv):
  del argv
  config = _CONFIG.value
  levels = config_lib.chain_levels(config) if config_lib.is_chain(config) else [config]
  for level in levels:  # a chain config: every level in turn
    config_lib.validate(level)
    shapes, summaries = describe(level, max_lines=None if _FULL_TABLE.value else 20)
    print(format_report(level, shapes, summaries), end="\n\n")


if __name__ == "__main__":
  flags.mark_flags_as_required(["config"])
  app.run(main, flags_parser=cli.parse_flags)
