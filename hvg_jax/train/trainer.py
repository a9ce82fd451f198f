"""Trains one level: data, the jitted step over all devices, logging, samples, checkpoints.

An upsampling level first restores its frozen lower levels (``config.lower_levels``) and
checks that they chain with it. A restarted command resumes from the latest checkpoint and
continues exactly as the uninterrupted run would have (the data order and all randomness
are functions of the step). SIGTERM (and a TPU/cluster preemption notice) saves a
checkpoint and returns. A non-finite loss raises ``NonFiniteLossError`` before anything
after it is saved. The last step computes the standing statistics of the sampling
generator for the level's whole video and saves them with it: the level is finished.
"""

import contextlib
import copy
import logging
import signal
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from clu import parameter_overview
from etils import epath
from flax import nnx

from hvg_jax import config_lib, runtime, video_io
from hvg_jax import level as level_lib
from hvg_jax.chain import generate as chain_gen
from hvg_jax.chain import levels as chain_levels
from hvg_jax.chain.sampler import ChainSampler, chunk_memory_budget
from hvg_jax.checkpoints import Checkpoints, absolute
from hvg_jax.data import pipeline
from hvg_jax.errors import UserError
from hvg_jax.eval import during_training
from hvg_jax.layers import sampling_view
from hvg_jax.train import state as state_lib
from hvg_jax.train import step as step_lib
from hvg_jax.train import workdir_lock


class NonFiniteLossError(UserError, FloatingPointError):
  """The loss became NaN or infinite; the last good checkpoint is kept."""


class WorkdirError(UserError, OSError):
  """The workdir cannot be created or written."""


def check_workdir(workdir) -> epath.Path:
  """Creates ``workdir`` and proves it writable, or raises WorkdirError saying why.

  Returns it as an absolute path (Orbax needs one).
  """
  path = absolute(workdir)
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


def make_sample_fn(config: ml_collections.ConfigDict, graphdef, lower_levels=None):
  """Jitted ``(state, lower) -> videos in [-1, 1]`` from fixed noise, classes and (for an
  upsampling level) fixed windows of the lower levels' videos; the EMA G if kept.

  BatchNorm uses the sample batch's statistics: standing statistics are only computed
  when the level finishes.
  """
  shapes = config_lib.level_shapes(config)
  n = config.train.num_samples
  k_z, k_low = jax.random.split(state_lib.keys(config.seed)["samples"])
  z = jax.random.normal(k_z, (n, config.model.g.z_dim))
  labels = jnp.arange(n) % shapes.num_classes if shapes.num_classes else None

  @jax.jit
  def sample(state, lower):
    g = level_lib.sampling_generator(nnx.merge(graphdef, state))
    g = sampling_view(g, standing_stats=False)
    if shapes.upsampling:
      return g(z, lower_levels(lower, k_low, labels, n), labels)
    return g(z, labels)

  return sample


def sampling_level(config, workdir, graphdef, state, lower_levels, mesh, *, passes: int,
                   batch: int, step: int) -> level_lib.FrozenLevel:
  """The level's sampling generator (the EMA one when kept) with standing statistics for
  the level's whole video: ``passes`` passes of ``batch`` videos, split over the mesh (an
  upsampling level runs over the lower levels' whole videos in chunks, as sampling does)."""
  levels = _chain_to(config, workdir, graphdef, state, lower_levels, step)
  level = levels[-1]
  lengths = [lv.stats_frames for lv in levels[:-1]] + [config.data.frames]
  logging.info("Computing standing statistics of %s for %d frames (%d passes of %d).",
               config.name, config.data.frames, passes, batch)
  sampler = ChainSampler(levels, mesh=mesh, progress=jax.process_index() == 0,
                         chunk_memory=chunk_memory_budget(config.sample.chunk_memory_mb))
  level.stats = sampler.standing_statistics(
      lengths, passes=passes, batch=batch, key=state_lib.keys(config.seed)["standing"],
      recompute=[len(levels) - 1])[-1]
  return level


def _chain_to(config, workdir, graphdef, state, lower_levels, step: int):
  """The frozen lower levels and, on top, the level being trained (its sampling
  generator, with the statistics it holds)."""
  level = level_lib.from_training_state(config, graphdef, state, workdir=workdir, step=step)
  return (lower_levels.levels if lower_levels else []) + [level]


def finish(config, workdir, graphdef, state, lower_levels, mesh, step: int):
  """Finishes the level: standing statistics for its whole video
  (``config.sample.standing_passes`` of ``standing_batch`` videos) and its sampling
  generator saved with them (hvg_jax.level.save_finished)."""
  s = config.sample
  level = sampling_level(config, workdir, graphdef, state, lower_levels, mesh,
                         passes=s.standing_passes, batch=s.standing_batch, step=step)
  level_lib.save_finished(workdir, level, step)
  logging.info("%s is finished: its generator is in %s.", config.name,
               workdir / level_lib.GENERATOR_DIR / str(step))


def _write_samples(writer, workdir: epath.Path, step: int, videos):
  videos = video_io.to_uint8(jax.device_get(videos))
  columns = int(np.ceil(np.sqrt(len(videos))))
  video_io.write_video_files(workdir / "samples" / f"step_{step:08d}",
                             video_io.grid(videos, columns))
  writer.write_images(step, {"samples": video_io.frame_strip(videos)[None]})


def _check_finite(state, checkpoints: Checkpoints):
  first = int(jax.device_get(state.first_nonfinite_step[...]))
  if first >= 0:
    checkpoints.wait()  # so that the step named below is committed
    latest = checkpoints.latest_step()
    kept = (f"the last checkpoint (step {latest}) is intact" if latest is not None else
            "no checkpoint had been saved yet")
    raise NonFiniteLossError(
        f"the loss became non-finite (NaN or inf) at step {first + 1}. Nothing after it was "
        f"saved: {kept}. Lower config.train.g_lr / d_lr or check the data, then run the "
        "command again to resume.")


def _check_batch_split(config):
  devices = jax.device_count()
  if config.train.batch_size % devices:
    raise config_lib.ConfigError(
        f"config.train.batch_size: {config.train.batch_size} does not split over the "
        f"{devices} devices; use a multiple of {devices}")


def _restore_or_init(config, mesh, checkpoints: Checkpoints, writer):
  """(graphdef, state, step): the latest checkpoint's, or a fresh initialisation."""
  graphdef = None

  def abstract():
    nonlocal graphdef
    graphdef, abstract_state = state_lib.abstract_state(config, mesh)
    return abstract_state

  start, state = checkpoints.restore_latest(config, abstract)
  if start:
    logging.info("Resuming %s from the checkpoint of step %d.", config.name, start)
  else:
    graphdef, state = state_lib.initial_state(config, mesh)
    flat = parameter_overview.flatten_dict(config.to_dict(), delimiter=".")
    writer.write_hparams({k: v if isinstance(v, (bool, int, float, str)) else str(v)
                          for k, v in flat.items()})
  return graphdef, state, start


def train(config: ml_collections.ConfigDict, workdir):
  """Trains the level of ``config`` in ``workdir`` up to ``config.train.num_steps``, then
  saves its sampling generator (:func:`finish`).

  Returns (graphdef, state) of the last step. An upsampling level first restores its frozen
  lower levels from ``config.lower_levels``. A run stopped early (SIGTERM, preemption)
  returns unfinished; running it again resumes.
  """
  config_lib.validate(config)
  _check_batch_split(config)
  runtime.keep_tensorflow_off_accelerators()
  source = pipeline.get_source(config)  # the data is there and fits the level
  mesh = runtime.make_mesh()
  lower_levels = None
  if config.level > 1:
    lower = chain_levels.load_lower(config, sharding=runtime.replicated(mesh))
    for lv in lower:
      logging.info("Level %d (frozen): %s", lv.config.level, lv.source)
    lower_levels = chain_gen.LowerLevels(
        lower, config_lib.level_shapes(config).input_train_frames)
  with _removed_if_left_empty(workdir):
    return _train_in(config, check_workdir(workdir), mesh, lower_levels, source)


def _train_in(config, workdir, mesh, lower_levels, source):
  periodic_eval = (during_training.PeriodicEvaluation(config, workdir, mesh)
                   if config.eval.every_steps else None)
  with workdir_lock.held(workdir):
    writer = runtime.summary_writer(workdir, just_logging=jax.process_index() > 0)
    checkpoints = Checkpoints(workdir, config)
    try:
      graphdef, state, step = _restore_or_init(config, mesh, checkpoints, writer)
      if step >= config.train.num_steps:
        logging.info("%s is already trained (%d of %d steps).", config.name, step,
                     config.train.num_steps)
      else:
        state, step = _train_loop(config, workdir, mesh, graphdef, state, step, checkpoints,
                                  writer, lower_levels, source, periodic_eval)
      if step >= config.train.num_steps and step not in level_lib.finished_steps(workdir):
        checkpoints.wait()  # the last state is safe before the statistics are computed
        finish(config, workdir, graphdef, state, lower_levels, mesh, step)
    finally:  # also on errors and Ctrl-C: finish the save in flight, flush the logs
      checkpoints.close()
      writer.close()
  return graphdef, state


def _train_loop(config, workdir, mesh, graphdef, state, start, checkpoints, writer,
                lower_levels, source, periodic_eval):
  t = config.train
  is_main = jax.process_index() == 0
  if is_main:
    _log_parameters(graphdef, state)
  train_step = step_lib.make_train_step(config, graphdef, mesh, lower_levels)
  sample = make_sample_fn(config, graphdef, lower_levels)
  lower = lower_levels.arrays if lower_levels is not None else None
  dataset = pipeline.level_dataset(config, source,
                                   process_index=jax.process_index(),
                                   process_count=jax.process_count())
  batches = pipeline.iterate(dataset, start, num_threads=config.data.num_threads,
                             prefetch=config.data.prefetch)
  from clu import periodic_actions  # pylint: disable=import-outside-toplevel (imports TF)
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
        state, metrics = train_step(state, runtime.put_batch(mesh, next(batches)), lower)
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
        videos = sample(state, lower)  # every process takes part; the first writes
        if is_main:
          _write_samples(writer, workdir, step, videos)
      preempted = stop.requested or checkpoints.reached_preemption(step)
      if periodic_eval is not None and periodic_eval.due(step, last) and not preempted:
        _check_finite(state, checkpoints)  # a NaN run stops here, not inside a metric
        before = periodic_eval.seconds
        s = config.sample
        periodic_eval(
            step, _chain_to(config, workdir, graphdef, state, lower_levels, step), writer,
            make_best=lambda passes: sampling_level(
                config, workdir, graphdef, state, lower_levels, mesh, passes=passes,
                batch=s.standing_batch, step=step))
        interval_start += periodic_eval.seconds - before
      if step % t.checkpoint_every == 0 or last or preempted:
        _check_finite(state, checkpoints)
        checkpoints.save(step, state, config)
      if preempted:
        logging.warning("Stopped at step %d; the command resumes from there.", step)
        break
  return state, step


def train_chain(chain: ml_collections.ConfigDict, workdir) -> list[epath.Path] | None:
  """Trains a chain's levels in order, level k in ``workdir/level<k>`` on the frozen levels
  below it. Finished levels are skipped and the one in progress resumes, so the same
  command continues an interrupted chain. Returns the level workdirs, or None when a level
  stopped before its end (SIGTERM, preemption)."""
  configs = check_chain_data(chain)
  with _removed_if_left_empty(workdir):
    workdir = check_workdir(workdir)
    with workdir_lock.held(workdir):
      return _train_levels(configs, workdir)


def check_chain_data(chain: ml_collections.ConfigDict, *, prepare: str | None = None):
  """A chain's level configs, each checked to split its batch and to find its data (before
  the first level trains for days); ConfigError naming the level otherwise. ``prepare``:
  the command the errors suggest (default: each level's own prepare_data command)."""
  configs = config_lib.chain_levels(chain)
  config_lib.check_levels(configs)
  runtime.keep_tensorflow_off_accelerators()
  for config in configs:
    _check_batch_split(config)
    pipeline.get_source(config, prepare=prepare)
  return configs


@contextlib.contextmanager
def _removed_if_left_empty(workdir):
  """Removes ``workdir`` again when this run created it and fails before saving anything
  in it (nothing but empty folders, hidden files and the start of a TensorBoard log), so
  the next try starts as if this one never ran."""
  path = absolute(workdir)
  created = not path.exists()
  try:
    yield
  except BaseException:
    if created and path.exists() and jax.process_index() == 0 and not any(
        not name.startswith((".", "events.out.tfevents"))
        for _, _, files in path.walk() for name in files):
      path.rmtree(missing_ok=True)
    raise


def _train_levels(configs, workdir: epath.Path) -> list[epath.Path] | None:
  dirs = []
  for config in configs:
    level_dir = workdir / f"level{config.level}"
    config = copy.deepcopy(config)
    config.lower_levels = ",".join(str(d) for d in dirs)
    if level_lib.is_finished(level_dir, config.train.num_steps):
      logging.info("Level %d (%s) is finished in %s.", config.level, config.name, level_dir)
    else:
      logging.info("Training level %d of %d (%s) in %s.", config.level, len(configs),
                   config.name, level_dir)
      train(config, level_dir)
      if not level_lib.is_finished(level_dir, config.train.num_steps):
        logging.warning("Level %d stopped before its end; run the same command again to "
                        "resume the chain.", config.level)
        return None
    dirs.append(level_dir)
  return dirs
