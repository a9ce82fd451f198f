r"""Trains a level, or a whole chain of levels, of a hierarchical video GAN.

  python -m hvg_jax.main --config=configs/demo.py --workdir=workdirs/demo
  python -m hvg_jax.main --config=configs/bdd_level1.py --workdir=gs://bucket/bdd/level1
  python -m hvg_jax.main --config=configs/bdd_level3.py --workdir=gs://bucket/bdd/level3 \
      --config.lower_levels=gs://bucket/bdd/level1,gs://bucket/bdd/level2

A chain config (configs/demo.py, configs/bdd_chain.py, ...) trains level 1, 2, ... in
``workdir/level<k>``, then samples the whole chain into ``workdir/samples``. Running the same
command again resumes: finished levels are skipped, the one in progress continues from its
latest checkpoint.
"""

import re
import shlex
import sys

import jax
from absl import app, flags, logging
from ml_collections import config_flags

from hvg_jax import accelerator, cli, compilation_cache, config_lib, distributed
from hvg_jax.chain.sample_files import write_index, write_samples
from hvg_jax.chain.sampler import stream_chain
from hvg_jax.eval import evaluation, i3d_weights
from hvg_jax.layout import ChainDir, RunDir
from hvg_jax.train import trainer

_CONFIG = config_flags.DEFINE_config_file("config", None, "Level or chain config file.",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Where checkpoints, logs and samples go.")


def main(argv):
  cli.start(argv)
  with cli.user_errors():
    distributed.initialize()
    accelerator.check()
    compilation_cache.enable(str(RunDir(_WORKDIR.value).compilation_cache))
  config = _CONFIG.value
  with cli.user_errors():
    if config_lib.is_chain(config):
      prepare = _prepare_command(sys.argv[1:])
      # Before training: data and evaluation settings that cannot work fail now.
      trainer.check_chain_data(config, prepare=prepare)
      eval_settings = _chain_eval_settings(config, prepare=prepare)
      dirs = trainer.train_chain(config, ChainDir(_WORKDIR.value))
      if dirs:
        _sample_chain(config, ChainDir(_WORKDIR.value), dirs, eval_settings)
    else:
      trainer.train(config, _WORKDIR.value)


def _prepare_command(args: list[str]) -> str:
  """The prepare_data command that stores what this chain reads: its config and data
  settings as given here."""
  given = [a for a in args if a.startswith("--config=")
           or re.match(r"--config\.(levels\.level\d+\.)?data\.", a)]
  where = "" if any(".data.dir=" in a for a in given) else " --data_dir=<dir>"
  return (f"python -m hvg_jax.prepare_data {shlex.join(given)} --manual_dir=<your videos>"
          f"{where}")


def _chain_eval_settings(chain, *, prepare=None):
  """The chain's final evaluation (evaluation.chain_settings), fitted to the top level's
  data; None when chain.eval.metrics is empty. Computed once, before training, when each
  level's evaluation during training is checked too."""
  for level in config_lib.chain_levels(chain):
    if level.eval.every_steps:
      evaluation.check_level(level)
  settings = evaluation.chain_settings(chain)
  if settings is None:
    return None
  settings = evaluation.fit_to_data(settings, config_lib.chain_levels(chain)[-1],
                                    prepare=prepare)
  if evaluation.uses_i3d(settings):
    i3d_weights.resolve(settings.i3d_weights)
  return settings


def _sample_chain(chain, chain_dir: ChainDir, dirs, eval_settings):
  """Samples the trained chain's whole videos into <workdir>/samples, then evaluates it
  with ``eval_settings`` (_chain_eval_settings; None: not): metrics.json, a table in the
  log and on the page."""
  mesh, levels = cli.load_chain(dirs)
  top = levels[-1].config
  lengths, chunks = stream_chain(levels, num_videos=top.train.num_samples, seed=top.seed,
                                 mesh=mesh, progress=jax.process_index() == 0)
  output = chain_dir.samples
  settings = f"{chain.name}: {len(levels)} levels, seed {top.seed}"
  index = write_samples(output, levels, lengths, chunks, settings=settings)
  if index is not None:
    logging.info("Samples of the whole chain: %s", index)
  if eval_settings is None:
    return
  eval_settings = evaluation.checked(eval_settings, levels)
  results = evaluation.Evaluator(eval_settings, mesh=mesh)(levels)
  if jax.process_index() == 0:
    evaluation.write(output, results, settings=eval_settings, levels=levels)
    shapes = [(top.train.num_samples, t, lv.shapes.resolution, lv.shapes.resolution, 3)
              for lv, t in zip(levels, lengths)]
    write_index(output, levels, shapes, settings=settings, metrics=results.metrics)
    logging.info("%s", evaluation.table(results, eval_settings, levels))
    logging.info("Metrics of the whole chain: %s", output / "metrics.json")


if __name__ == "__main__":
  flags.mark_flags_as_required(["config", "workdir"])
  app.run(main, flags_parser=cli.parse_flags)
