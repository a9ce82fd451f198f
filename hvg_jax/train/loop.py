"""The training loop of one level: the jitted step over all devices, then after each step
what is due: the averaged metrics, samples, the periodic evaluation, a checkpoint, a stop.

A non-finite loss raises ``NonFiniteLossError`` before anything after it is saved. SIGTERM
(one process) or JAX's preemption sync (several) stops every process at the same step,
after a checkpoint.
"""

import contextlib
import dataclasses
import logging
import time

import jax
import numpy as np
from clu import parameter_overview
from flax import nnx

from hvg_jax import runtime
from hvg_jax.checkpoints import Checkpoints
from hvg_jax.data import pipeline
from hvg_jax.errors import UserError
from hvg_jax.eval.during_training import PeriodicEvaluation
from hvg_jax.train import finish as finish_lib
from hvg_jax.train import samples as samples_lib
from hvg_jax.train import step as step_lib
from hvg_jax.train.run import LevelRun
from hvg_jax.train.stop import StopRequest


class NonFiniteLossError(UserError, FloatingPointError):
  """The loss became NaN or infinite; the last good checkpoint is kept."""


@dataclasses.dataclass
class Outputs:
  """Where a level's training writes: checkpoints, the metric writer (TensorBoard and the
  log), and the periodic evaluation (None: off)."""
  checkpoints: Checkpoints
  writer: object
  evaluation: PeriodicEvaluation | None = None


def check_finite(state, checkpoints: Checkpoints):
  """Raises NonFiniteLossError if a step's loss was not finite (the state records the
  first such step), naming the last checkpoint, which is intact."""
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


class _Metrics:
  """Each step's metrics, averaged over ``log_every`` steps and written with the
  throughput (time spent evaluating left out; the first step, which compiles, too)."""

  def __init__(self, examples_per_step: int):
    self.examples_per_step = examples_per_step
    self.pending, self.timed_steps, self.interval_start = [], 0, time.time()

  def add(self, metrics, *, compiled: bool):
    self.pending.append(metrics)
    if compiled:  # the first call compiled: time throughput from here
      self.interval_start = time.time()
    else:
      self.timed_steps += 1

  def leave_out(self, seconds: float):
    self.interval_start += seconds

  def write(self, writer, step: int):
    summary = {k: float(np.mean([m[k] for m in jax.device_get(self.pending)]))
               for k in self.pending[0]}
    if self.timed_steps:
      elapsed = max(time.time() - self.interval_start, 1e-9)
      summary["examples_per_sec"] = self.timed_steps * self.examples_per_step / elapsed
    writer.write_scalars(step, summary)
    self.pending, self.timed_steps, self.interval_start = [], 0, time.time()


def _log_parameters(graphdef, state):
  gan = nnx.merge(graphdef, state)
  for name, module in (("Generator", gan.generator), ("Discriminators", gan.discriminators)):
    parameter_overview.log_parameter_overview(
        nnx.to_pure_dict(nnx.state(module, nnx.Param)), msg=name, include_stats=False)


def _hooks(run: LevelRun, start: int, writer) -> list:
  t = run.config.train
  from clu import periodic_actions  # pylint: disable=import-outside-toplevel (imports TF)
  hooks = [periodic_actions.ReportProgress(num_train_steps=t.num_steps, writer=writer,
                                           every_steps=t.log_every)]
  if t.profile and run.is_main:
    # Five steps from the tenth on, or as late as still fits before the end.
    first = min(start + 10, max(start + 1, t.num_steps - 5))
    hooks.append(periodic_actions.Profile(logdir=str(run.dir), num_profile_steps=5,
                                          first_profile=first))
  return hooks


def _evaluate(run: LevelRun, graphdef, state, step: int, out: Outputs) -> float:
  """The periodic evaluation of the chain up to this level; returns its seconds."""
  check_finite(state, out.checkpoints)  # a NaN run stops here, not inside a metric
  before = out.evaluation.seconds
  out.evaluation(step, run.chain(graphdef, state, step), out.writer,
                 make_best=lambda passes: finish_lib.sampling_level(
                     run, graphdef, state, step, passes=passes))
  return out.evaluation.seconds - before


def train_loop(run: LevelRun, graphdef, state, start: int, out: Outputs):
  """Trains from step ``start`` to ``config.train.num_steps`` or a stop request; returns
  (state, the last step)."""
  t = run.config.train
  if run.is_main:
    _log_parameters(graphdef, state)
  train_step = step_lib.make_train_step(run.config, graphdef, run.mesh, run.lower)
  sample = samples_lib.make_sample_fn(run, graphdef)
  dataset = pipeline.level_dataset(run.config, run.source,
                                   process_index=jax.process_index(),
                                   process_count=jax.process_count())
  batches = pipeline.iterate(dataset, start, num_threads=run.config.data.num_threads,
                             prefetch=run.config.data.prefetch)
  hooks = _hooks(run, start, out.writer)
  metrics = _Metrics(t.d_steps * t.batch_size)
  logging.info("Training %s from step %d to %d on %d devices (%d processes).",
               run.config.name, start, t.num_steps, jax.device_count(), jax.process_count())
  # One process: SIGTERM sets a flag. Several: JAX's preemption sync (reached_preemption)
  # catches it and makes every process stop at the same step.
  stop = StopRequest()
  with stop.installed() if jax.process_count() == 1 else contextlib.nullcontext():
    for step in range(start + 1, t.num_steps + 1):
      with jax.profiler.StepTraceAnnotation("train", step_num=step):
        state, step_metrics = train_step(state, runtime.put_batch(run.mesh, next(batches)),
                                         run.lower_arrays)
      metrics.add(step_metrics, compiled=step == start + 1)
      for hook in hooks:
        hook(step)
      last = step == t.num_steps
      if step % t.log_every == 0 or last:
        check_finite(state, out.checkpoints)
        metrics.write(out.writer, step)
      if step % t.sample_every == 0 or last:
        videos = sample(state, run.lower_arrays)  # every process takes part; the first writes
        if run.is_main:
          samples_lib.write_samples(run, out.writer, step, videos)
      preempted = stop.requested or out.checkpoints.reached_preemption(step)
      if out.evaluation is not None and out.evaluation.due(step, last) and not preempted:
        metrics.leave_out(_evaluate(run, graphdef, state, step, out))
      if step % t.checkpoint_every == 0 or last or preempted:
        check_finite(state, out.checkpoints)
        out.checkpoints.save(step, state, run.config)
      if preempted:
        logging.warning("Stopped at step %d; the command resumes from there.", step)
        break
  return state, step
