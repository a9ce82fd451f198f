"""Trains one level, or a chain's levels one after another.

A level's training, top to bottom: :func:`train` builds its run (hvg_jax.train.run: the
config validated, the data found, the frozen lower levels restored and checked to chain),
takes its workdir, restores the latest checkpoint or initialises, runs the loop
(hvg_jax.train.loop) and finishes the level (hvg_jax.train.finish: the standing statistics
of its sampling generator for the whole video, saved with it). A restarted command resumes
from the latest checkpoint and continues exactly as the uninterrupted run would have (the
data order and all randomness are functions of the step).
"""

import copy
import logging

import ml_collections
from clu import parameter_overview

from hvg_jax import config_lib, locks, runtime
from hvg_jax import level as level_lib
from hvg_jax.checkpoints import Checkpoints
from hvg_jax.data import pipeline
from hvg_jax.eval import during_training
from hvg_jax.layout import ChainDir, LevelDir
from hvg_jax.train import finish as finish_lib
from hvg_jax.train import loop as loop_lib
from hvg_jax.train import run as run_lib
from hvg_jax.train import state as state_lib
from hvg_jax.train.loop import NonFiniteLossError  # pylint: disable=unused-import (public)


def train(config: ml_collections.ConfigDict, workdir: LevelDir | str):
  """Trains the level of ``config`` in ``workdir`` up to ``config.train.num_steps``, then
  saves its sampling generator (hvg_jax.train.finish).

  Returns (graphdef, state) of the last step. An upsampling level first restores its frozen
  lower levels from ``config.lower_levels``. A run stopped early (SIGTERM, preemption)
  returns unfinished; running it again resumes.
  """
  run = run_lib.start(config, workdir)
  with run_lib.removed_if_left_empty(run.dir):
    run_lib.check_writable(run.dir)
    return _train_in(run)


def _train_in(run: run_lib.LevelRun):
  config = run.config
  # Before anything compiles: the real clips are long enough, I3D's weights load.
  evaluation = (during_training.PeriodicEvaluation(config, run.dir, run.mesh)
                if config.eval.every_steps else None)
  with locks.workdir(run.dir):
    writer = runtime.summary_writer(str(run.dir), just_logging=not run.is_main)
    out = loop_lib.Outputs(Checkpoints(run.dir, config), writer, evaluation)
    try:
      graphdef, state, step = _restore_or_init(run, out)
      check_not_past(step, config, run.dir)
      if step >= config.train.num_steps:
        logging.info("%s is already trained (%d of %d steps).", config.name, step,
                     config.train.num_steps)
      else:
        state, step = loop_lib.train_loop(run, graphdef, state, step, out)
      if step >= config.train.num_steps and _needs_finishing(run.dir, step):
        out.checkpoints.wait()  # the last state is safe before the statistics are computed
        finish_lib.finish(run, graphdef, state, step)
    finally:  # also on errors and Ctrl-C: finish the save in flight, flush the logs
      out.checkpoints.close()
      writer.close()
  return graphdef, state


def _needs_finishing(level_dir: LevelDir, step: int) -> bool:
  """Whether a level at its last step still needs its generator saved: none is saved at
  ``step``, or the one saved is damaged (the checkpoint of ``step`` rebuilds it)."""
  if step not in level_lib.finished_steps(level_dir):
    return True
  damage = level_lib.generator_damage(level_dir)
  if damage:
    logging.warning("The generator of step %d in %s is damaged (%s); rebuilding it from the "
                    "checkpoint of step %d.", step, level_dir, damage, step)
  return damage is not None


def _restore_or_init(run: run_lib.LevelRun, out: loop_lib.Outputs):
  """(graphdef, state, step): the latest checkpoint's, or a fresh initialisation."""
  config = run.config
  graphdef = None

  def abstract():
    nonlocal graphdef
    graphdef, abstract_state = state_lib.abstract_state(config, run.mesh)
    return abstract_state

  start, state = out.checkpoints.restore_latest(config, abstract)
  if start:
    logging.info("Resuming %s from the checkpoint of step %d.", config.name, start)
  else:
    graphdef, state = state_lib.initial_state(config, run.mesh)
    flat = parameter_overview.flatten_dict(config.to_dict(), delimiter=".")
    out.writer.write_hparams({k: v if isinstance(v, (bool, int, float, str)) else str(v)
                              for k, v in flat.items()})
  return graphdef, state, start


def check_not_past(latest: int | None, config: ml_collections.ConfigDict, workdir):
  """ConfigError if the run in ``workdir`` is at a later step than ``config.train.num_steps``
  (a level cannot be trained back to an earlier step)."""
  n = config.train.num_steps
  if latest is not None and latest > n:
    raise config_lib.ConfigError(
        f"config.train.num_steps={n}, but the run in {workdir} is at step {latest} already: "
        f"pass --config.train.num_steps={latest} or more to go on with it, or another "
        f"--workdir to train {n} steps afresh")


def train_chain(chain: ml_collections.ConfigDict, workdir) -> list[LevelDir] | None:
  """Trains a chain's levels in order, level k in ``workdir/level<k>`` on the frozen levels
  below it. Finished levels are skipped and the one in progress resumes, so the same
  command continues an interrupted chain. Returns the level workdirs, or None when a level
  stopped before its end (SIGTERM, preemption)."""
  configs = check_chain_data(chain)
  chain_dir = ChainDir.of(workdir)
  with run_lib.removed_if_left_empty(chain_dir):
    run_lib.check_writable(chain_dir)
    with locks.workdir(chain_dir):
      return _train_levels(configs, chain_dir)


def check_chain_data(chain: ml_collections.ConfigDict, *, prepare: str | None = None):
  """A chain's level configs, each checked to split its batch and to find its data (before
  the first level trains for days); ConfigError naming the level otherwise. ``prepare``:
  the command the errors suggest (default: each level's own prepare_data command)."""
  configs = config_lib.chain_levels(chain)
  config_lib.check_levels(configs)
  runtime.keep_tensorflow_off_accelerators()
  for config in configs:
    run_lib.check_batch_split(config)
    pipeline.get_source(config, prepare=prepare)
  return configs


def _train_levels(configs, chain_dir: ChainDir) -> list[LevelDir] | None:
  dirs = []
  for config in configs:
    level_dir = chain_dir.level(config.level)
    config = copy.deepcopy(config)
    config.lower_levels = ",".join(str(d) for d in dirs)
    check_not_past(level_lib.status(level_dir)[0], config, level_dir)
    if (level_lib.is_finished(level_dir, config.train.num_steps)
        and not level_lib.generator_damage(level_dir)):  # else train() rebuilds it
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
