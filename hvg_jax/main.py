r"""Trains one level of a hierarchical video GAN.

  python -m hvg_jax.main --config=configs/demo.py --workdir=/tmp/hvg_demo
  python -m hvg_jax.main --config=configs/bdd_level3.py --workdir=gs://bucket/bdd/level3 \
      --config.train.batch_size=64

Running the same command again resumes from the workdir's latest checkpoint.
"""

import logging as std_logging
import sys

from absl import app, flags, logging
from ml_collections import config_flags

from hvg_jax import config_lib
from hvg_jax.train import trainer

_CONFIG = config_flags.DEFINE_config_file("config", None, "Level config file.",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Where checkpoints, logs and samples go.")


class _QuietCheckpointing(std_logging.Filter):
  """Orbax logs every step of every save at INFO; keep its warnings and errors."""

  def filter(self, record):
    return record.levelno >= std_logging.WARNING or "/orbax/" not in record.pathname


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  logging.get_absl_handler().addFilter(_QuietCheckpointing())
  # TensorFlow only reads data here; keep it off the accelerators JAX uses.
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  tf.config.set_visible_devices([], "GPU")
  try:
    trainer.train(_CONFIG.value, _WORKDIR.value)
  except (config_lib.ConfigError, trainer.WorkdirError, trainer.NonFiniteLossError) as e:
    logging.error("%s", e)
    sys.exit(f"error: {e}")


if __name__ == "__main__":
  flags.mark_flags_as_required(["config", "workdir"])
  app.run(main)
