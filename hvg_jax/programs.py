"""A level's training programs on random or shape-only weights: what benchmarks, the
memory figure and TPU sizing compile (nothing here trains).

``random_levels`` are untrained frozen generators (as fast as trained ones);
``abstract_levels`` and ``abstract=True`` give ShapeDtypeStructs placed on a mesh, enough to
compile a program and read XLA's memory and cost analyses with nothing allocated (a mesh of
compile-only TPU devices included).
"""

import copy
import time

import jax
import numpy as np
from flax import nnx

from hvg_jax import config_lib, models, runtime
from hvg_jax import level as level_lib
from hvg_jax.chain import generate as gen
from hvg_jax.chain.sampler import level_lengths
from hvg_jax.train import state as state_lib
from hvg_jax.train import step as step_lib


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
    level.stats = runtime.abstract(jax.eval_shape(lambda s, n=length: gen.fresh_stats(s, n),
                                         level.stats), sharding)
  return levels


def synthetic_batch(config, mesh, abstract: bool = False):
  """A global batch of random uint8 videos and labels, split over the mesh (its shapes
  only when ``abstract``)."""
  shapes = config_lib.level_shapes(config)
  t = config.train
  video = (t.d_steps, t.batch_size, shapes.train_frames, shapes.resolution,
           shapes.resolution, 3)
  label = (t.d_steps, t.batch_size)
  if abstract:
    return runtime.abstract({"video": jax.ShapeDtypeStruct(video, np.uint8),
                    "label": jax.ShapeDtypeStruct(label, np.int32)},
                   runtime.per_step_example(mesh))
  rng = np.random.default_rng(0)
  batch = {"video": rng.integers(0, 256, video, dtype=np.uint8),
           "label": rng.integers(0, max(shapes.num_classes, 1), label, dtype=np.int32)}
  return jax.device_put(batch, runtime.per_step_example(mesh))


def memory(compiled) -> dict:
  analysis = compiled.memory_analysis()
  if analysis is None:
    return {}
  out = {name: int(getattr(analysis, f"{name}_size_in_bytes", 0))
         for name in ("argument", "output", "temp", "alias", "generated_code")}
  # Donated arguments alias outputs: counted once.
  out["total"] = out["argument"] + out["output"] + out["temp"] - out["alias"]
  return out


def cost(compiled) -> dict:
  """XLA's cost analysis of a compiled program: FLOPs, bytes accessed and, on TPU, the
  compiler's estimate of its time (``optimal_seconds``; NaN where the backend gives none)."""
  analysis = compiled.cost_analysis()
  if isinstance(analysis, (list, tuple)):
    analysis = analysis[0] if analysis else {}
  analysis = analysis or {}
  return {"flops": float(analysis.get("flops", float("nan"))),
          "bytes_accessed": float(analysis.get("bytes accessed", float("nan"))),
          "estimated_s": float(analysis.get("optimal_seconds", float("nan")))}


def flops(compiled) -> float:
  return cost(compiled)["flops"]


def with_settings(config, *, batch_size=None, dtype=None, remat=None):
  """A validated copy of ``config`` with the given global batch, compute dtype and
  rematerialisation (None: the config's)."""
  config = copy.deepcopy(config)
  if batch_size is not None:
    config.train.batch_size = batch_size
  if dtype is not None:
    config.model.dtype = dtype
  if remat is not None:
    config.model.remat = remat
  config_lib.validate(config)
  return config


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
  memories = [memory(p) for p in compiled.programs]
  figures = {"compile_s": compile_s,
             "flops_per_iteration_per_device": sum(flops(p) for p in compiled.programs),
             "memory_bytes": max(memories, key=lambda m: m.get("total", 0)),
             "memory_bytes_per_program": memories}
  return compiled, args, figures
