r"""Measures a level's training iteration and a chain's sampling on the local devices.

  python -m hvg_jax.benchmark --config=configs/kinetics_chain.py --level=2 \
      --batch_per_device=4 --dtype=bfloat16 --output=/tmp/kinetics_l2.json
  python -m hvg_jax.benchmark --config=configs/ssw_bdd_level1.py

For one training iteration (its ``d_steps`` D updates and one G update, lower levels
generating their windows included) on synthetic data: compile time; median wall time over
``--steps`` after ``--warmup``; samples per second per device; FLOPs from XLA's cost
analysis; achieved TFLOP/s and utilisation (MFU) against the device's peak (PEAKS; on a
CPU the peak is measured with a large matmul); memory from XLA's memory analysis and,
where the device reports it, the allocator's peak. With a chain config, also whole-chain
sampling throughput (videos per second at the top level's whole length). Weights are
random: speed does not depend on their values. Prints a table, writes JSON (--output).
"""

import copy
import json
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags, logging
from flax import nnx
from ml_collections import config_flags

from hvg_jax import cli, config_lib, models, runtime
from hvg_jax import level as level_lib
from hvg_jax.chain import generate as gen
from hvg_jax.chain.sampler import ChainSampler, level_lengths
from hvg_jax.train import state as state_lib
from hvg_jax.train import step as step_lib

_CONFIG = config_flags.DEFINE_config_file("config", None, "A level or chain config file.",
                                          lock_config=False)
_LEVEL = flags.DEFINE_integer("level", None, "With a chain config: which level's training "
                              "to measure (default: the top one).")
_BATCH = flags.DEFINE_integer("batch_per_device", None, "Videos per device per D/G step "
                              "(default: the config's batch over the devices).")
_DTYPE = flags.DEFINE_enum("dtype", None, list(config_lib.DTYPES), "Compute dtype "
                           "(default: the config's model.dtype).")
_STEPS = flags.DEFINE_integer("steps", 5, "Timed iterations.")
_WARMUP = flags.DEFINE_integer("warmup", 1, "Iterations run before timing.")
_SAMPLING = flags.DEFINE_bool("sampling", True, "Also time whole-chain sampling (chain "
                              "configs).")
_COMPILE_ONLY = flags.DEFINE_bool(
    "compile_only", False, "Compile the training step on shapes alone (nothing allocated, "
    "nothing run) and report what compiling tells: FLOPs per iteration and XLA's memory "
    "analysis. For sizes this machine cannot run.")
_OUTPUT = flags.DEFINE_string("output", None, "Write the figures as JSON here.")

# Dense peak FLOP/s per device (vendor figures, no sparsity), by device kind and dtype.
# float32 on NVIDIA GPUs: XLA runs float32 convolutions and matmuls on TF32 tensor cores.
PEAKS = {
    ("NVIDIA H100 80GB HBM3", "bfloat16"): 989.4e12,
    ("NVIDIA H100 80GB HBM3", "float32"): 494.7e12,
    ("NVIDIA H200", "bfloat16"): 989.4e12,
    ("NVIDIA H200", "float32"): 494.7e12,
    ("TPU v4", "bfloat16"): 275e12,
    ("TPU v5 lite", "bfloat16"): 197e12,
    ("TPU v5e", "bfloat16"): 197e12,
    ("TPU v5p", "bfloat16"): 459e12,
}


def peak_flops(device, dtype: str) -> tuple[float | None, str]:
  """(peak FLOP/s of one device for ``dtype``, where the figure comes from)."""
  kind = device.device_kind
  for (name, dt), value in PEAKS.items():
    if dt == dtype and (kind == name or kind.startswith(name)):
      return value, f"table ({name})"
  if device.platform == "cpu":
    return measured_cpu_peak(dtype), "measured (2048x2048 matmuls)"
  return None, f"unknown device kind {kind!r}: add it to hvg_jax.benchmark.PEAKS"


def measured_cpu_peak(dtype: str, n: int = 2048, repeats: int = 5) -> float:
  """FLOP/s of jitted n x n matmuls on this CPU (all its cores), the best of ``repeats``."""
  x = jnp.ones((n, n), jnp.dtype(dtype))
  matmul = jax.jit(lambda a: a @ a)
  matmul(x).block_until_ready()
  best = float("inf")
  for _ in range(repeats):
    start = time.perf_counter()
    matmul(x).block_until_ready()
    best = min(best, time.perf_counter() - start)
  return 2 * n ** 3 / best


def _with(config, batch_per_device, dtype):
  config = copy.deepcopy(config)
  if batch_per_device is not None:
    config.train.batch_size = batch_per_device * jax.device_count()
  if dtype is not None:
    config.model.dtype = dtype
  config_lib.validate(config)
  return config


def random_levels(configs, key=0) -> list[level_lib.FrozenLevel]:
  """Untrained generators of ``configs`` (a chain's levels, level 1 first) with empty
  standing statistics for their whole videos: as fast as trained ones."""
  levels = []
  for i, config in enumerate(configs):
    graphdef, state = nnx.split(models.build_generator(config, rngs=nnx.Rngs(key + i)))
    levels.append(level_lib.frozen_level(config, graphdef, state, f"random {config.name}"))
  for level, length in zip(levels, level_lengths(levels)):
    level.stats = gen.fresh_stats(level.stats, length)
  return levels


def abstract_levels(configs, sharding) -> list[level_lib.FrozenLevel]:
  """``random_levels`` as shapes only (ShapeDtypeStructs placed by ``sharding``)."""
  levels = []
  for config in configs:
    graphdef, state = level_lib.abstract_generator(config, 1, sharding)
    levels.append(level_lib.frozen_level(config, graphdef, state, f"abstract {config.name}"))
  for level, length in zip(levels, level_lengths(levels)):
    level.stats = _placed(jax.eval_shape(lambda s, n=length: gen.fresh_stats(s, n),
                                         level.stats), sharding)
  return levels


def _placed(tree, sharding):
  return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding),
                      tree)


def synthetic_batch(config, mesh, abstract: bool = False):
  """A global batch of random uint8 videos and labels, split over the mesh (its shapes
  only when ``abstract``)."""
  shapes = config_lib.level_shapes(config)
  t = config.train
  video = (t.d_steps, t.batch_size, shapes.train_frames, shapes.resolution,
           shapes.resolution, 3)
  label = (t.d_steps, t.batch_size)
  if abstract:
    return _placed({"video": jax.ShapeDtypeStruct(video, np.uint8),
                    "label": jax.ShapeDtypeStruct(label, np.int32)},
                   runtime.per_step_example(mesh))
  rng = np.random.default_rng(0)
  batch = {"video": rng.integers(0, 256, video, dtype=np.uint8),
           "label": rng.integers(0, max(shapes.num_classes, 1), label, dtype=np.int32)}
  return jax.device_put(batch, runtime.per_step_example(mesh))


def _memory(compiled) -> dict:
  analysis = compiled.memory_analysis()
  if analysis is None:
    return {}
  out = {name: int(getattr(analysis, f"{name}_size_in_bytes", 0))
         for name in ("argument", "output", "temp", "generated_code")}
  out["total"] = out["argument"] + out["output"] + out["temp"] - int(
      getattr(analysis, "alias_size_in_bytes", 0))
  return out


def _flops(compiled) -> float:
  cost = compiled.cost_analysis()
  if isinstance(cost, (list, tuple)):
    cost = cost[0] if cost else {}
  return float((cost or {}).get("flops", float("nan")))


def _timed(fn, steps: int, warmup: int) -> list[float]:
  for _ in range(warmup):
    jax.block_until_ready(fn())
  times = []
  for _ in range(steps):
    start = time.perf_counter()
    jax.block_until_ready(fn())
    times.append(time.perf_counter() - start)
  return times


def training_program(config, lower_configs, mesh, *, abstract: bool = False):
  """(jitted train step, its (state, batch, lower) arguments) for ``config`` on random
  frozen ``lower_configs`` (at their configs' whole video lengths); with ``abstract`` the
  arguments are shapes only (enough to compile and read the cost and memory analyses,
  nothing allocated)."""
  lower_levels = lower = None
  if config.level > 1:
    replicated = runtime.replicated(mesh)
    levels = (abstract_levels(lower_configs, replicated) if abstract
              else random_levels(lower_configs))
    lower_levels = gen.LowerLevels(levels, config_lib.level_shapes(config).input_train_frames)
    lower = (lower_levels.arrays if abstract
             else jax.device_put(lower_levels.arrays, replicated))
  if abstract:
    graphdef, state = state_lib.abstract_state(config, mesh)
  else:
    graphdef, state = state_lib.initial_state(config, mesh)
  train_step = step_lib.make_train_step(config, graphdef, mesh, lower_levels)
  return train_step, (state, synthetic_batch(config, mesh, abstract), lower)


def compile_training(config, lower_configs, mesh, *, abstract: bool = False):
  """(compiled step, its arguments, figures known from compiling: compile_s, FLOPs and
  XLA's memory analysis of the program that needs the most)."""
  train_step, args = training_program(config, lower_configs, mesh, abstract=abstract)
  start = time.perf_counter()
  compiled = train_step.compile(*args)
  compile_s = time.perf_counter() - start
  # An upsampling level's iteration is two programs run one after the other (the lower
  # levels' inputs, then the update): FLOPs add up, memory peaks in one of them.
  memories = [_memory(p) for p in compiled.programs]
  figures = {"compile_s": compile_s,
             "flops_per_iteration_per_device": sum(_flops(p) for p in compiled.programs),
             "memory_bytes": max(memories, key=lambda m: m.get("total", 0)),
             "memory_bytes_per_program": memories}
  return compiled, args, figures


def benchmark_training(config, lower_configs, *, steps: int, warmup: int,
                       compile_only: bool = False) -> dict:
  """Figures of ``config``'s training iteration (lower levels: random, frozen). With
  ``compile_only``, those known from compiling on shapes alone: FLOPs and XLA memory."""
  mesh = runtime.make_mesh()
  devices = jax.device_count()
  device = jax.devices()[0]
  compiled, (state, batch, lower), figures = compile_training(
      config, lower_configs, mesh, abstract=compile_only)
  out = {"config": config.name, "level": config.level, "dtype": config.model.dtype,
         "device": device.device_kind, "devices": devices,
         "batch_per_device": config.train.batch_size // devices,
         "d_steps": config.train.d_steps, **figures}
  if compile_only:
    return out
  flops = figures["flops_per_iteration_per_device"]
  holder = {"state": state}

  def run():
    holder["state"], metrics = compiled(holder["state"], batch, lower)
    return metrics

  times = _timed(run, steps, warmup)
  iteration = statistics.median(times)
  peak, peak_source = peak_flops(device, config.model.dtype)
  # XLA's cost analysis of an SPMD program counts one device's share.
  achieved = flops / iteration if np.isfinite(flops) else float("nan")
  out.update({
      "iteration_s": iteration, "iteration_s_all": times,
      "samples_per_s_per_device": config.train.batch_size / devices / iteration,
      "achieved_tflops_per_device": achieved / 1e12,
      "peak_tflops_per_device": peak / 1e12 if peak else None, "peak_source": peak_source,
      "mfu": achieved / peak if peak else None,
  })
  stats = getattr(device, "memory_stats", lambda: None)()
  if stats and "peak_bytes_in_use" in stats:
    out["allocator_peak_bytes"] = int(stats["peak_bytes_in_use"])
  return out


def benchmark_sampling(configs, *, batch: int, steps: int, warmup: int) -> dict:
  """Whole-chain sampling: videos per second at the top level's whole length."""
  mesh = runtime.make_mesh()
  levels = random_levels(configs)
  sampler = ChainSampler(levels, mesh=mesh, progress=False)
  stats = [lv.stats for lv in levels]
  labels = (np.arange(batch) % levels[0].shapes.num_classes).astype(np.int32) if (
      levels[0].shapes.num_classes) else None
  zs = gen.noise(jax.random.key(0), levels, batch)
  times = _timed(lambda: sampler.videos(stats, zs, labels), steps, warmup)
  top = levels[-1]
  return {"levels": len(levels), "batch": batch, "frames": top.shapes.video_frames,
          "resolution": top.shapes.resolution, "seconds_per_batch": statistics.median(times),
          "videos_per_s": batch / statistics.median(times)}


def _fmt_bytes(n) -> str:
  if n is None:
    return "n/a"
  return f"{n / 2 ** 30:.2f} GiB" if n >= 2 ** 30 else f"{n / 2 ** 20:.1f} MiB"


def format_table(result: dict) -> str:
  t = result["training"]
  rows = [
      ("config", f"{t['config']} (level {t['level']}), {t['dtype']}"),
      ("device", f"{t['devices']} x {t['device']}"),
      ("batch per device", f"{t['batch_per_device']} (x {t['d_steps']} D steps)"),
      ("compile", f"{t['compile_s']:.1f} s"),
      ("FLOPs per iteration per device", f"{t['flops_per_iteration_per_device']:.4g}"),
      ("memory (XLA: args+out+temp)", _fmt_bytes(t["memory_bytes"].get("total"))),
  ]
  if "iteration_s" in t:
    rows[4:4] = [
        ("iteration (median)", f"{t['iteration_s'] * 1e3:.1f} ms"),
        ("samples/s per device", f"{t['samples_per_s_per_device']:.3g}"),
    ]
    rows += [
        ("achieved", f"{t['achieved_tflops_per_device']:.3g} TFLOP/s per device"),
        ("peak", "n/a" if t["peak_tflops_per_device"] is None else
         f"{t['peak_tflops_per_device']:.4g} TFLOP/s ({t['peak_source']})"),
        ("MFU", "n/a" if t["mfu"] is None else f"{100 * t['mfu']:.1f}%"),
        ("allocator peak", _fmt_bytes(t.get("allocator_peak_bytes"))),
    ]
  if "sampling" in result:
    s = result["sampling"]
    rows.append(("chain sampling", f"{s['videos_per_s']:.3g} videos/s ({s['levels']} levels, "
                 f"{s['frames']} frames at {s['resolution']} px, batch {s['batch']})"))
  width = max(len(k) for k, _ in rows)
  return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  config = _CONFIG.value
  try:
    if config_lib.is_chain(config):
      configs = config_lib.chain_levels(config)
      level = _LEVEL.value or len(configs)
      if not 1 <= level <= len(configs):
        raise config_lib.ConfigError(f"--level={level}: the chain has levels 1..{len(configs)}")
    else:
      if config.level > 1:
        raise config_lib.ConfigError(
            f"{config.name} is an upsampling level: benchmark it through its chain config "
            f"(e.g. --config=configs/<data>_chain.py --level={config.level}), which names "
            "the levels below it")
      configs, level = [config], 1
    configs = [_with(c, _BATCH.value, _DTYPE.value) for c in configs]
    result = {"training": benchmark_training(configs[level - 1], configs[:level - 1],
                                             steps=_STEPS.value, warmup=_WARMUP.value,
                                             compile_only=_COMPILE_ONLY.value)}
    if _SAMPLING.value and len(configs) > 1 and not _COMPILE_ONLY.value:
      result["sampling"] = benchmark_sampling(
          configs, batch=configs[-1].train.batch_size, steps=_STEPS.value,
          warmup=_WARMUP.value)
  except config_lib.ConfigError as e:
    sys.exit(f"error: {e}")
  print(format_table(result))
  if _OUTPUT.value:
    with open(_OUTPUT.value, "w") as f:
      json.dump(result, f, indent=2)
    logging.info("Wrote %s", _OUTPUT.value)


if __name__ == "__main__":
  flags.mark_flags_as_required(["config"])
  app.run(main, flags_parser=cli.parse_flags)
