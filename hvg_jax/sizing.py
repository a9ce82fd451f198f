"""Will it fit? A level's training (and a chain's sampling) sized for a Cloud TPU slice by
the real TPU compiler, on a machine without TPUs.

The programs training runs (an upsampling level's lower-levels program, then the update)
are compiled on shapes alone over a mesh of the slice's compile-only devices, the
config's global batch split over its chips. What the compiler answers, per chip: XLA's
memory analysis (arguments, outputs, temporaries) against the chip's HBM, FLOPs, and its
cost model's time for each program (``optimal_seconds``). Every time and utilisation here
is the compiler's estimate, never a measurement. A program that does not fit does not
compile: the compiler's RESOURCE_EXHAUSTED message gives the memory it needed.

A data-parallel program's per-chip memory and FLOPs depend on the per-chip batch, nearly
not on the number of chips (parameters are replicated, the batch split; the demo's level 2
on 4 and 8 chips: +2% memory, the same FLOPs); the gradient all-reduce's time does, and is
in the estimate only for the slice compiled for.
"""

import dataclasses
import functools
import math
import re
import time

import jax
import jax.numpy as jnp
from absl import logging

from hvg_jax import programs, runtime, tpu_slices
from hvg_jax.chain import generate as gen
from hvg_jax.chain.sampler import level_lengths
from hvg_jax.config_lib import ConfigError

GiB = 2 ** 30


_NUMBER = r"([0-9.]+)\s*([KMGT]?)i?B?"
_UNITS = {"": 1, "K": 2 ** 10, "M": 2 ** 20, "G": 2 ** 30, "T": 2 ** 40}


def _bytes(value: str, unit: str) -> int:
  return int(float(value) * _UNITS[unit])


def out_of_memory(error: Exception) -> dict | None:
  """The memory a program needed and the HBM there was, from the TPU compiler's
  RESOURCE_EXHAUSTED message (None for any other error)."""
  text = str(error)
  if "RESOURCE_EXHAUSTED" not in text:
    return None
  first = text.strip().splitlines()[0]
  needed = re.search(r"required[^(]*\(" + _NUMBER + r"\)", text) or re.search(
      r"[Uu]sed " + _NUMBER, text)
  available = re.search(r"available HBM\s*\(" + _NUMBER + r"\)", text) or re.search(
      r"of " + _NUMBER + r" hbm", text)
  return {"message": first[:500],
          "needed": _bytes(*needed.groups()) if needed else None,
          "available": _bytes(*available.groups()) if available else None}


@dataclasses.dataclass
class Sizing:
  """What compiling one level's training iteration on a slice told."""
  config: str
  level: int
  dtype: str
  remat: bool
  slice_name: str  # the slice compiled for
  chips: int
  hosts: int
  batch_per_chip: int
  d_steps: int
  num_steps: int
  hbm_bytes: int
  peak_flops: float
  compile_s: float
  fits: bool
  # Each program's memory and cost (the lower levels' windows, then the update).
  program_figures: list = dataclasses.field(default_factory=list)
  needed_bytes: int | None = None  # when it does not fit: what the compiler needed
  error: str = ""
  # The compiled update's real batch as the compiler split it: one chip's shard shape, and
  # the chips and hosts holding shards.
  batch_shard_shape: tuple = ()
  batch_chips: int = 0
  batch_hosts: int = 0

  @property
  def memory(self) -> dict:
    """Per chip: the program that needs the most (they run one after the other)."""
    return max((p["memory"] for p in self.program_figures), key=needed, default={})

  @property
  def memory_bytes(self) -> int | None:
    """What the chip must hold: the program's buffers and its code (or, when it did not
    compile, what the compiler said it needed)."""
    return needed(self.memory) if self.program_figures else self.needed_bytes

  @property
  def flops(self) -> float:
    return sum(p["cost"]["flops"] for p in self.program_figures)

  @property
  def estimated_s(self) -> float:
    return sum(p["cost"]["estimated_s"] for p in self.program_figures)

  @property
  def roofline_s(self) -> float:
    """FLOPs / peak + bytes accessed / HBM bandwidth, summed over the programs (nan without
    the counts): what the cost model's time is made of (on v5p it is 1.01-1.08x this), and
    the time used where the cost model gives none (libtpu 0.0.42 answers negative seconds
    for v6e)."""
    bandwidth = tpu_slices.parse(self.slice_name).chip.hbm_bandwidth
    try:
      return sum(p["cost"]["flops"] / self.peak_flops + p["cost"]["bytes_accessed"] / bandwidth
                 for p in self.program_figures)
    except (KeyError, TypeError):  # a count the compiler did not give
      return math.nan

  @property
  def time_source(self) -> str:
    return "cost model" if self.estimated_s > 0 else "roofline"

  @property
  def iteration_s(self) -> float:
    """Estimated seconds per iteration: the cost model's, else the roofline's."""
    return self.estimated_s if self.estimated_s > 0 else self.roofline_s

  @property
  def estimated_utilisation(self) -> float:
    if not self.iteration_s > 0:
      return math.nan
    return self.flops / self.iteration_s / self.peak_flops

  def run_estimate(self, chips: int | None = None) -> dict:
    """Estimated days and chip-hours of ``num_steps`` iterations on ``chips`` chips (default:
    the slice's) at this per-chip batch (the estimated time per iteration)."""
    chips = chips or self.chips
    seconds = self.num_steps * self.iteration_s
    return {"estimated_days": seconds / 86400, "estimated_chip_hours": seconds * chips / 3600}

  def as_dict(self) -> dict:
    out = dataclasses.asdict(self)
    out.update(memory=self.memory, memory_bytes=self.memory_bytes, flops=self.flops,
               estimated_s=self.estimated_s, roofline_s=self.roofline_s,
               iteration_s=self.iteration_s, time_source=self.time_source)
    if self.fits:
      out.update(estimated_utilisation=self.estimated_utilisation, **self.run_estimate())
    return out


def needed(memory: dict) -> int:
  """A program's bytes on a chip: arguments, outputs and temporaries (donated arguments
  counted once) and its code."""
  return memory["total"] + memory.get("generated_code", 0) if memory else 0


def split_batch(config, tpu_slice: tpu_slices.Slice) -> int:
  """The config's global batch per chip of ``tpu_slice``; an error when it does not split."""
  if config.train.batch_size % tpu_slice.chips:
    raise ConfigError(
        f"config.train.batch_size={config.train.batch_size} does not split over the "
        f"{tpu_slice.chips} chips of {tpu_slice.name}: give --batch_per_device, or "
        f"--config.train.batch_size=<a multiple of {tpu_slice.chips}>")
  return config.train.batch_size // tpu_slice.chips


def size_training(configs: list, level: int, tpu_slice: tpu_slices.Slice, *,
                  batch_per_chip: int | None = None, dtype: str | None = None,
                  remat: bool | None = None) -> Sizing:
  """Compiles level ``level``'s training iteration (``configs``: the chain's levels, level
  1 first; the lower ones random and frozen at their whole lengths) for ``tpu_slice``."""
  if batch_per_chip is None:
    batch_per_chip = split_batch(configs[level - 1], tpu_slice)
  lower = [programs.with_settings(c, dtype=dtype) for c in configs[:level - 1]]
  config = programs.with_settings(configs[level - 1], dtype=dtype, remat=remat,
                                  batch_size=batch_per_chip * tpu_slice.chips)
  mesh = runtime.make_mesh(tpu_slices.devices(tpu_slice.name))
  out = Sizing(config=config.name, level=config.level, dtype=config.model.dtype,
               remat=bool(config.model.remat), slice_name=tpu_slice.name, chips=tpu_slice.chips,
               hosts=tpu_slice.hosts, batch_per_chip=config.train.batch_size // tpu_slice.chips,
               d_steps=config.train.d_steps, num_steps=config.train.num_steps,
               hbm_bytes=tpu_slice.hbm_bytes, peak_flops=tpu_slice.chip.peak_bf16,
               compile_s=math.nan, fits=False)
  logging.info("Compiling %s (level %d, %s%s) for %s at %d per chip...", out.config,
               out.level, out.dtype, ", remat" if out.remat else "", out.slice_name,
               out.batch_per_chip)
  start = time.perf_counter()
  try:
    compiled, _, _ = programs.compile_training(config, lower, mesh, abstract=True)
  except jax.errors.JaxRuntimeError as e:
    oom = out_of_memory(e)
    if oom is None:
      raise
    out.compile_s = time.perf_counter() - start
    out.needed_bytes, out.error = oom["needed"], oom["message"]
    if oom["available"]:
      out.hbm_bytes = oom["available"]
    return out
  out.compile_s = time.perf_counter() - start
  video = compiled.update.input_shardings[0][1]["video"]
  shape = (config.train.d_steps, config.train.batch_size) + tuple(
      programs.synthetic_batch(config, mesh, abstract=True)["video"].shape[2:])
  out.batch_shard_shape = tuple(video.shard_shape(shape))
  out.batch_chips = len(video.device_set)
  out.batch_hosts = len({d.process_index for d in video.device_set})
  out.program_figures = [{"memory": programs.memory(p), "cost": programs.cost(p)}
                         for p in compiled.programs]
  out.fits = out.memory_bytes <= out.hbm_bytes
  if not out.fits:
    out.needed_bytes = out.memory_bytes
  return out


def largest_fitting_batch(configs, level, tpu_slice, first: Sizing, *, dtype=None,
                          remat=None, log=print) -> Sizing | None:
  """The largest power-of-two per-chip batch below ``first``'s (which did not fit) that
  fits, found by compiling: memory is close to affine in the batch, so a compile at 1 per
  chip and ``first`` give a line whose prediction is compiled, then halved while it does
  not fit or doubled while it does (below ``first``'s). None when 1 per chip does not fit."""
  size = functools.partial(size_training, configs, level, tpu_slice, dtype=dtype,
                           remat=remat)
  b0 = first.batch_per_chip
  one = first if b0 == 1 else size(batch_per_chip=1)
  log(f"  1 per chip: {verdict(one)}")
  if not one.fits:
    return None
  if first.memory_bytes and b0 > 1:
    per_video = max((first.memory_bytes - one.memory_bytes) / (b0 - 1), 1)
    predicted = 1 + int((one.hbm_bytes - one.memory_bytes) / per_video)
  else:
    predicted = b0 // 2
  tried = {1: one}
  b = 2 ** int(math.log2(max(1, min(predicted, b0 - 1))))
  while 1 < b < b0 and b not in tried:
    tried[b] = size(batch_per_chip=b)
    log(f"  {b} per chip: {verdict(tried[b])}")
    b = 2 * b if tried[b].fits else b // 2
  return tried[max(k for k, s in tried.items() if s.fits)]


def format_bytes(n) -> str:
  if n is None:
    return "n/a"
  return f"{n / GiB:.2f} GiB" if n >= GiB / 10 else f"{n / 2 ** 20:.1f} MiB"


def verdict(s: Sizing) -> str:
  if s.fits:
    return (f"fits with {format_bytes(s.hbm_bytes - s.memory_bytes)} to spare "
            f"({format_bytes(s.memory_bytes)} of {format_bytes(s.hbm_bytes)})")
  if s.needed_bytes is None:
    return f"does not fit ({s.error})"
  return (f"does not fit: needs {format_bytes(s.needed_bytes - s.hbm_bytes)} more "
          f"({format_bytes(s.needed_bytes)} of {format_bytes(s.hbm_bytes)})")


def _estimate(value: float, fmt: str) -> str:
  return "n/a (no estimate)" if not value > 0 else format(value, fmt)


def report(s: Sizing, target: tpu_slices.Slice | None = None) -> str:
  """The figures of ``s`` for a person; ``target``: a larger slice the same per-chip batch
  is meant for (its global batch, days and chip-hours; the per-chip figures are those
  compiled for ``s.slice_name``)."""
  target = target or tpu_slices.parse(s.slice_name)
  global_batch = s.batch_per_chip * target.chips
  rows = [
      ("config", f"{s.config} (level {s.level}), {s.dtype}"
       f"{', remat' if s.remat else ''}"),
      ("slice", f"{target.name} ({target.topology}): {target.chips} chips, "
       f"{target.hosts} host{'s' if target.hosts > 1 else ''}"
       + ("" if target.name == s.slice_name else
          f"; per-chip figures compiled for {s.slice_name}")),
      ("batch", f"{global_batch} global, {s.batch_per_chip} per chip (x {s.d_steps} D steps)"),
      ("compile", f"{s.compile_s:.0f} s on this machine"),
  ]
  m = s.memory
  if s.fits:
    rows += [("memory per chip", f"{format_bytes(s.memory_bytes)} of "
              f"{format_bytes(s.hbm_bytes)} HBM (arguments {format_bytes(m['argument'])}, "
              f"outputs {format_bytes(m['output'])}, temporaries {format_bytes(m['temp'])}, "
              f"donated {format_bytes(m['alias'])}, code {format_bytes(m['generated_code'])})")]
    if len(s.program_figures) > 1:
      rows += [("  by program", ", ".join(
          f"{name} {format_bytes(needed(p['memory']))}"
          + (f" and {p['cost']['estimated_s']:.3g} s (estimate)"
             if p["cost"]["estimated_s"] > 0 else "")
          for name, p in zip(("lower levels", "update"), s.program_figures)))]
    run = s.run_estimate(target.chips)
    rows += [
        ("FLOPs per iteration per chip", f"{s.flops:.4g}"),
        ("time per iteration", f"{_estimate(s.estimated_s, '.3g')} s (the compiler's "
         "estimate)" if s.estimated_s > 0 else
         f"{_estimate(s.roofline_s, '.3g')} s, a roofline estimate (FLOPs / peak + bytes "
         "accessed / HBM bandwidth; the compiler's cost model gave "
         f"{s.estimated_s:.3g} s, no estimate)"),
        ("utilisation", f"{_estimate(100 * s.estimated_utilisation, '.1f')}% of "
         f"{s.peak_flops / 1e12:.0f} TFLOP/s, the chip's bf16 peak (the "
         f"{'compiler' if s.time_source == 'cost model' else 'roofline'}'s estimate)"),
    ]
    if s.iteration_s > 0:
      rows += [
          ("videos per second", f"{global_batch / s.iteration_s:.4g} on the slice "
           "(estimate)"),
          (f"{s.num_steps} steps", f"{run['estimated_days']:.2f} days, "
           f"{run['estimated_chip_hours']:.4g} chip-hours (estimate)"),
      ]
  rows.append(("verdict", verdict(s)))
  width = max(len(k) for k, _ in rows)
  return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def size_sampling(configs: list, tpu_slice: tpu_slices.Slice, *, batch_per_chip: int = 1,
                  dtype: str | None = None) -> list[dict]:
  """Each level's sampling program of a chain (``configs``, level 1 first) at the chain's
  whole video length, in one piece, ``batch_per_chip`` videos on each chip of
  ``tpu_slice``: per chip memory and the compiler's time estimate, level by level (the
  sampler runs them one after the other; longer videos than fit go in chunks)."""
  configs = [programs.with_settings(c, dtype=dtype) for c in configs]
  mesh = runtime.make_mesh(tpu_slices.devices(tpu_slice.name))
  levels = programs.abstract_levels(configs, runtime.replicated(mesh))
  batch = batch_per_chip * tpu_slice.chips
  split = runtime.per_example(mesh)
  place = lambda shape, dt: jax.ShapeDtypeStruct(shape, dt, sharding=split)  # noqa: E731
  out = []
  for lv, length in zip(levels, level_lengths(levels)):
    shapes = lv.shapes
    z = place((batch, lv.config.model.g.z_dim), jnp.float32)
    labels = place((batch,), jnp.int32) if shapes.num_classes else None
    start = time.perf_counter()
    try:
      if shapes.upsampling:
        r = shapes.input_resolution
        low = place((batch, length // shapes.time_factor, r, r, 3), jnp.float32)
        lowered = jax.jit(functools.partial(gen.generate, lv)).lower(
            lv.params, lv.stats, z, low, labels)
      else:
        state = jax.eval_shape(lambda z, labels, lv=lv: gen.level1_start(lv, z, labels),
                               z, labels)
        state = [place(s.shape, s.dtype) for s in state]
        lowered = jax.jit(functools.partial(gen.continue_level1, lv)).lower(
            lv.params, lv.stats, z, labels, state)
      compiled = lowered.compile()
    except jax.errors.JaxRuntimeError as e:
      oom = out_of_memory(e)
      if oom is None:
        raise
      out.append({"level": lv.config.level, "config": lv.config.name, "frames": length,
                  "batch_per_chip": batch_per_chip, "fits": False,
                  "needed_bytes": oom["needed"], "hbm_bytes": oom["available"]
                  or tpu_slice.hbm_bytes, "compile_s": time.perf_counter() - start})
      continue
    memory, cost = programs.memory(compiled), programs.cost(compiled)
    out.append({"level": lv.config.level, "config": lv.config.name, "frames": length,
                "resolution": shapes.resolution, "batch_per_chip": batch_per_chip,
                "memory": memory, **cost, "hbm_bytes": tpu_slice.hbm_bytes,
                "fits": needed(memory) <= tpu_slice.hbm_bytes,
                "compile_s": time.perf_counter() - start})
  return out


def sampling_report(rows: list[dict], tpu_slice: tpu_slices.Slice) -> str:
  lines = [f"Sampling the whole chain on {tpu_slice.name}, each level in one piece "
           "(the compiler's figures per chip; times are its estimates):"]
  for r in rows:
    head = (f"  level {r['level']} ({r['config']}), {r['frames']} frames, "
            f"{r['batch_per_chip']} video(s) per chip: ")
    if r["fits"]:
      lines.append(head + f"{format_bytes(needed(r['memory']))} of "
                   f"{format_bytes(r['hbm_bytes'])}, {_estimate(r['estimated_s'], '.3g')} s "
                   "(estimate)")
    else:
      lines.append(head + f"needs {format_bytes(r['needed_bytes'])} of {format_bytes(r['hbm_bytes'])}: "
                   "sampling runs it in chunks (hvg_jax.sample)")
  if all(r["fits"] and r["estimated_s"] > 0 for r in rows):
    total = sum(r["estimated_s"] for r in rows)
    lines.append(f"  whole chain: {total:.3g} s per {rows[0]['batch_per_chip']} video(s) "
                 "per chip (estimate)")
  return "\n".join(lines)
