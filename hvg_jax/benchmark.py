r"""Measures a level's training iteration and a chain's sampling on the local devices, or
sizes it for a Cloud TPU slice by the TPU compiler (``--topology``).

  python -m hvg_jax.benchmark --config=configs/kinetics_chain.py --level=2 \
      --batch_per_device=4 --dtype=bfloat16 --output=/tmp/kinetics_l2.json
  python -m hvg_jax.benchmark --config=configs/ssw_bdd_level1.py
  python -m hvg_jax.benchmark --config=configs/kinetics_chain.py --level=2 \
      --topology=v5p-128 --dtype=bfloat16 --compile_only

With ``--topology`` (needs libtpu: ``pip install -e '.[tpu]'``) nothing runs: the level's
training iteration is compiled for the slice's chips, the config's global batch split over
them, and the compiler's figures are printed per chip (hvg_jax.sizing): memory against the
chip's HBM, FLOPs, its estimate of the time per iteration and of the run's days and
chip-hours, and a verdict; when it does not fit, the largest per-chip batch that does and
whether ``model.remat`` makes the config's batch fit (each found by compiling).

For one training iteration (its ``d_steps`` D updates and one G update, lower levels
generating their windows included) on synthetic data: compile time; median wall time over
``--steps`` after ``--warmup``; samples per second per device; FLOPs from XLA's cost
analysis; achieved TFLOP/s and utilisation (MFU) against the device's peak (PEAKS; on a
CPU the peak is measured with a large matmul); memory from XLA's memory analysis and,
where the device reports it, the allocator's peak. With a chain config, also whole-chain
sampling throughput (videos per second at the top level's whole length). Weights are
random: speed does not depend on their values. Prints a table, writes JSON (--output).
"""

import json
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags, logging
from ml_collections import config_flags

from hvg_jax import cli, config_lib, files, programs, runtime, sizing, tpu_slices
from hvg_jax.chain import generate as gen
from hvg_jax.chain.sampler import ChainSampler

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
                              "configs; with --topology: compile each level's sampling "
                              "program at the chain's whole length).")
_COMPILE_ONLY = flags.DEFINE_bool(
    "compile_only", False, "Compile the training step on shapes alone (nothing allocated, "
    "nothing run) and report what compiling tells: FLOPs per iteration and XLA's memory "
    "analysis. For sizes this machine cannot run.")
_OUTPUT = flags.DEFINE_string("output", None, "Write the figures as JSON here.")
_TOPOLOGY = flags.DEFINE_string(
    "topology", None, "Size the level for this Cloud TPU slice by the TPU compiler instead "
    "of running it: an accelerator type (v4-8, v5p-128, v5litepod-16, v6e-256, ...). "
    "Implies --compile_only.")
_REMAT = flags.DEFINE_bool("remat", None, "Set model.remat (default: the config's).")
_SEARCH = flags.DEFINE_bool(
    "search", True, "With --topology, when the batch does not fit: compile to find the "
    "largest per-chip batch that does and whether model.remat makes it fit.")

# Dense peak FLOP/s per device (vendor figures, no sparsity), by device kind and dtype.
# float32 on NVIDIA GPUs: XLA runs float32 convolutions and matmuls on TF32 tensor cores.
PEAKS = {
    ("NVIDIA H100 80GB HBM3", "bfloat16"): 989.4e12,
    ("NVIDIA H100 80GB HBM3", "float32"): 494.7e12,
    ("NVIDIA H200", "bfloat16"): 989.4e12,
    ("NVIDIA H200", "float32"): 494.7e12,
    **{(chip.device_kind, "bfloat16"): chip.peak_bf16 for chip in tpu_slices.CHIPS.values()},
}


def peak_flops(device, dtype: str) -> tuple[float | None, str]:
  """(peak FLOP/s of one device for ``dtype``, where the figure comes from)."""
  kind = device.device_kind
  if (kind, dtype) in PEAKS:
    return PEAKS[kind, dtype], f"table ({kind})"
  for (name, dt), value in PEAKS.items():
    if dt == dtype and kind.startswith(name) and not name.startswith("TPU"):
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


def _with(config, batch_per_device, dtype, remat):
  return programs.with_settings(
      config, dtype=dtype, remat=remat,
      batch_size=None if batch_per_device is None else batch_per_device * jax.device_count())


def _timed(fn, steps: int, warmup: int) -> list[float]:
  for _ in range(warmup):
    jax.block_until_ready(fn())
  times = []
  for _ in range(steps):
    start = time.perf_counter()
    jax.block_until_ready(fn())
    times.append(time.perf_counter() - start)
  return times


def benchmark_training(config, lower_configs, *, steps: int, warmup: int,
                       compile_only: bool = False) -> dict:
  """Figures of ``config``'s training iteration (lower levels: random, frozen). With
  ``compile_only``, those known from compiling on shapes alone: FLOPs and XLA memory."""
  mesh = runtime.make_mesh()
  devices = jax.device_count()
  device = jax.devices()[0]
  compiled, (state, batch, lower), figures = programs.compile_training(
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
  levels = programs.random_levels(configs)
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


def format_table(result: dict) -> str:
  t = result["training"]
  rows = [
      ("config", f"{t['config']} (level {t['level']}), {t['dtype']}"),
      ("device", f"{t['devices']} x {t['device']}"),
      ("batch per device", f"{t['batch_per_device']} (x {t['d_steps']} D steps)"),
      ("compile", f"{t['compile_s']:.1f} s"),
      ("FLOPs per iteration per device", f"{t['flops_per_iteration_per_device']:.4g}"),
      ("memory (XLA: args+out+temp)", sizing.format_bytes(t["memory_bytes"].get("total"))),
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
        ("allocator peak", sizing.format_bytes(t.get("allocator_peak_bytes"))),
    ]
  if "sampling" in result:
    s = result["sampling"]
    rows.append(("chain sampling", f"{s['videos_per_s']:.3g} videos/s ({s['levels']} levels, "
                 f"{s['frames']} frames at {s['resolution']} px, batch {s['batch']})"))
  width = max(len(k) for k, _ in rows)
  return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def size_for_slice(configs, level: int, target: tpu_slices.Slice, chain: bool):
  """--topology: the level's training compiled for ``target``, the report, and the
  searches when it does not fit."""
  tpu_slices.require_libtpu()
  batch = _BATCH.value or sizing.split_batch(configs[level - 1], target)
  kwargs = dict(dtype=_DTYPE.value, remat=_REMAT.value)
  first = sizing.size_training(configs, level, target, batch_per_chip=batch, **kwargs)
  print(sizing.report(first), flush=True)
  result = {"target": target.name, "sizing": first.as_dict()}
  if not first.fits and _SEARCH.value:
    print("Searching for the largest per-chip batch that fits (compiling):", flush=True)
    best = sizing.largest_fitting_batch(configs, level, target, first, **kwargs)
    if best is None:
      print(f"Not even 1 video per chip fits a {target.chip.generation} chip.")
    else:
      chips = batch * target.chips / best.batch_per_chip
      try:  # the slice that holds the same global batch at this per-chip batch
        holds = (tpu_slices.with_chips(target.chip.generation, int(chips))
                 if chips.is_integer() else None)
      except config_lib.ConfigError:
        holds = None
      print(f"Largest per-chip batch that fits: {best.batch_per_chip}; the global batch of "
            f"{batch * target.chips} then needs {chips:g} chips"
            f"{f' ({holds.name})' if holds else ''}:")
      print(sizing.report(best, holds))
      result["largest_fitting"] = best.as_dict()
    if not first.remat:
      print("With model.remat (compiling):", flush=True)
      with_remat = sizing.size_training(configs, level, target, batch_per_chip=batch,
                                        dtype=_DTYPE.value, remat=True)
      print(sizing.report(with_remat))
      result["remat"] = with_remat.as_dict()
  if chain and _SAMPLING.value:
    print("Compiling each level's sampling program at the chain's whole length...",
          flush=True)
    rows = sizing.size_sampling(configs, target, dtype=_DTYPE.value)
    print(sizing.sampling_report(rows, target))
    result["sampling"] = rows
  if _OUTPUT.value:
    with cli.user_errors(), files.atomic(_OUTPUT.value, "w") as f:
      json.dump(result, f, indent=2)
    logging.info("Wrote %s", _OUTPUT.value)


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
    if _TOPOLOGY.value:
      return size_for_slice(configs, level, tpu_slices.parse(_TOPOLOGY.value),
                            config_lib.is_chain(config))
    configs = [_with(c, _BATCH.value, _DTYPE.value, _REMAT.value) for c in configs]
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
    with cli.user_errors(), files.atomic(_OUTPUT.value, "w") as f:
      json.dump(result, f, indent=2)
    logging.info("Wrote %s", _OUTPUT.value)


if __name__ == "__main__":
  flags.mark_flags_as_required(["config"])
  app.run(main, flags_parser=cli.parse_flags)
