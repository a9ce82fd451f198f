"""Trains one level: data, the jitted step over all devices, logging, samples, checkpoints.

A restarted command resumes from the latest checkpoint and continues exactly as the
uninterrupted run would have (the data order and all randomness are functions of the
step). SIGTERM (and a TPU/cluster preemption notice) saves a checkpoint and returns. A
non-finite loss raises ``NonFiniteLossError`` before anything after it is saved.
"""

import contextlib
import logging
import os
import signal
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from clu import metric_writers, parameter_overview, periodic_actions
from etils import epath
from flax import nnx

from hvg_jax import config_lib, video_io
from hvg_jax.data import pipeline
from hvg_jax.layers import sampling_mode
from hvg_jax.train import state as state_lib
from hvg_jax.train import step as step_lib
from hvg_jax.train.checkpoints import Checkpoints


class NonFiniteLossError(FloatingPointError):
  """The loss became NaN or infinite; the last good checkpoint is kept."""


class WorkdirError(OSError):
  """The workdir cannot be created or written."""


def check_workdir(workdir) -> epath.Path:
  """Creates ``workdir`` and proves it writable, or raises WorkdirError saying why.

  Returns it as an absolute path (Orbax needs one).
  """
  workdir = str(workdir)
  path = epath.Path(workdir if "://" in workdir else os.path.abspath(workdir))
  try:
    path.mkdir(parents=True, exist_ok=True)
    probe = path / f".write_test.{jax.process_index()}"
    probe.write_text("ok")
    probe.unlink()
  except OSError as e:
    raise WorkdirError(f"--workdir={workdir} is not a writable directory ({e}); pass a "
                       "directory this process can create and write") from None
  return path


class _StopRequest:
  """Turns SIGTERM into a flag the loop checks after each step (then save and return)."""

  def __init__(self):
    self.requested = False

  @contextlib.contextmanager
  def installed(self):
    def handler(signum, frame):
      del frame
      logging.warning("Received signal %d: saving a checkpoint and stopping.", signum)
      self.requested = True
    try:
      previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: no handler, preemption still works
      yield self
      return
    try:
      yield self
    finally:
      signal.signal(signal.SIGTERM, previous)


def _log_parameters(graphdef, state):
  gan = nnx.merge(graphdef, state)
  for name, module in (("Generator", gan.generator), ("Discriminators", gan.discriminators)):
    parameter_overview.log_parameter_overview(
        nnx.to_pure_dict(nnx.state(module, nnx.Param)), msg=name, include_stats=False)


def make_sample_fn(config: ml_collections.ConfigDict, graphdef):
  """Jitted ``state -> videos in [-1, 1]`` from fixed noise and classes (EMA G if kept).

  BatchNorm uses the sample batch's statistics: standing statistics are only recomputed
  for the final samples (hvg_jax.sample).
  """
  shapes = config_lib.level_shapes(config)
  n = config.train.num_samples
  z = jax.random.normal(state_lib.keys(config.seed)["samples"], (n, config.model.g.z_dim))
  labels = jnp.arange(n) % shapes.num_classes if shapes.num_classes else None

  @jax.jit
  def sample(state):
    gan = nnx.merge(graphdef, state)
    g = gan.ema_generator if gan.ema_generator is not None else gan.generator
    sampling_mode(g, standing_stats=False)
    return g(z, labels)

  return sample


def _write_samples(writer, workdir: epath.Path, step: int, videos):
  videos = video_io.to_uint8(jax.device_get(videos))
  columns = int(np.ceil(np.sqrt(len(videos))))
  video_io.write_video_files(workdir / "samples" / f"step_{step:08d}",
                             video_io.grid(videos, columns))
  writer.write_images(step, {"samples": video_io.frame_strip(videos)[None]})


def _check_finite(state, checkpoints: Checkpoints):
  first = int(jax.device_get(state["first_nonfinite_step"][...]))
  if first >= 0:
    checkpoints.wait()  # so that the step named below is committed
    raise NonFiniteLossError(
        f"the loss became non-finite (NaN or inf) at step {first + 1}. Nothing after it was "
        f"saved: the last checkpoint (step {checkpoints.latest_step()}) is intact. Lower "
        "config.train.g_lr / d_lr or check the data, then run the command again to resume.")


def _check_batch_split(config):
  devices = jax.device_count()
  if config.train.batch_size % devices:
    raise config_lib.ConfigError(
        f"config.train.batch_size: {config.train.batch_size} does not split over the "
        f"{devices} devices; use a multiple of {devices}")


def _restore_or_init(config, mesh, checkpoints: Checkpoints, writer):
  """(graphdef, state, step): the latest checkpoint's, or a fresh initialisation."""
  start = checkpoints.latest_step() or 0
  if start:
    checkpoints.check_compatible(start, config)
    graphdef, abstract = state_lib.abstract_state(config, mesh)
    state = checkpoints.restore(start, abstract)
    logging.info("Resuming %s from the checkpoint of step %d.", config.name, start)
  else:
    graphdef, state = state_lib.initial_state(config, mesh)
    flat = parameter_overview.flatten_dict(config.to_dict(), delimiter=".")
    writer.write_hparams({k: v if isinstance(v, (bool, int, float, str)) else str(v)
                          for k, v in flat.items()})
  return graphdef, state, start


def train(config: ml_collections.ConfigDict, workdir, *, lower_levels=None):
  """Trains the level of ``config`` in ``workdir`` up to ``config.train.num_steps``.

  Returns (graphdef, state) of the last step. ``lower_levels`` generates the input videos
  of an upsampling level (the hierarchy's frozen lower levels).
  """
  config_lib.validate(config)
  if config.level > 1 and lower_levels is None:
    raise config_lib.ConfigError(
        f"config.level: level {config.level} upsamples videos generated by its frozen "
        "lower levels, and restoring them from their checkpoints is not implemented yet; "
        "level-1 configs (e.g. configs/demo.py, configs/bdd_level1.py) train today")
  _check_batch_split(config)
  workdir = check_workdir(workdir)
  mesh = state_lib.make_mesh()
  writer = metric_writers.create_default_writer(workdir,
                                                just_logging=jax.process_index() > 0)
  checkpoints = Checkpoints(workdir, config)
  try:
    graphdef, state, start = _restore_or_init(config, mesh, checkpoints, writer)
    if start >= config.train.num_steps:
      logging.info("%s is already trained (%d of %d steps).", config.name, start,
                   config.train.num_steps)
    else:
      state = _train_loop(config, workdir, mesh, graphdef, state, start, checkpoints,
                          writer, lower_levels)
  finally:  # also on errors and Ctrl-C: finish the save in flight, flush the logs
    checkpoints.wait()
    checkpoints.close()
    writer.close()
  return graphdef, state


def _train_loop(config, workdir, mesh, graphdef, state, start, checkpoints, writer,
                lower_levels):
  t = config.train
  is_main = jax.process_index() == 0
  if is_main:
    _log_parameters(graphdef, state)
  train_step = step_lib.make_train_step(config, graphdef, mesh, lower_levels)
  sample = make_sample_fn(config, graphdef)
  dataset = pipeline.level_dataset(config, pipeline.get_source(config),
                                   process_index=jax.process_index(),
                                   process_count=jax.process_count())
  batches = pipeline.iterate(dataset, start, num_threads=config.data.num_threads,
                             prefetch=config.data.prefetch)
  hooks = [periodic_actions.ReportProgress(num_train_steps=t.num_steps, writer=writer,
                                           every_steps=t.log_every)]
  if t.profile and is_main:
    # Five steps from the tenth on, or as late as still fits before the end.
    first = min(start + 10, max(start + 1, t.num_steps - 5))
    hooks.append(periodic_actions.Profile(logdir=workdir, num_profile_steps=5,
                                          first_profile=first))
  examples_per_step = t.d_steps * t.batch_size
  logging.info("Training %s from step %d to %d on %d devices (%d processes).", config.name,
               start, t.num_steps, jax.device_count(), jax.process_count())

  pending, timed_steps, interval_start = [], 0, time.time()
  # One process: SIGTERM sets a flag. Several: JAX's preemption sync (reached_preemption)
  # catches it and makes every process stop at the same step.
  stop = _StopRequest()
  with stop.installed() if jax.process_count() == 1 else contextlib.nullcontext():
    for step in range(start + 1, t.num_steps + 1):
      with jax.profiler.StepTraceAnnotation("train", step_num=step):
        state, metrics = train_step(state, state_lib.put_batch(mesh, next(batches)))
      pending.append(metrics)
      if step == start + 1:  # the first call compiled: time throughput from here
        interval_start = time.time()
      else:
        timed_steps += 1
      for hook in hooks:
        hook(step)
      last = step == t.num_steps
      if step % t.log_every == 0 or last:
        _check_finite(state, checkpoints)
        summary = {k: float(np.mean([m[k] for m in jax.device_get(pending)]))
                   for k in pending[0]}
        if timed_steps:
          elapsed = max(time.time() - interval_start, 1e-9)
          summary["examples_per_sec"] = timed_steps * examples_per_step / elapsed
        writer.write_scalars(step, summary)
        pending, timed_steps, interval_start = [], 0, time.time()
      if step % t.sample_every == 0 or last:
        videos = sample(state)  # every process takes part; the first writes
        if is_main:
          _write_samples(writer, workdir, step, videos)
      preempted = stop.requested or checkpoints.reached_preemption(step)
      if step % t.checkpoint_every == 0 or last or preempted:
        _check_finite(state, checkpoints)
        checkpoints.save(step, state, config)
      if preempted:
        logging.warning("Stopped at step %d; the command resumes from there.", step)
        break
  return state
