r"""Exports a trained chain as one Orbax checkpoint: every level's generator (the sampling
one, EMA when kept), its standing statistics and its config.

  python -m hvg_jax.export --chain=workdirs/demo --output=/tmp/demo_export
  python -m hvg_jax.sample --chain=/tmp/demo_export --output=/tmp/demo_samples

Only finished levels export; the export alone is enough to sample.
"""

import sys

from absl import app, flags, logging

from hvg_jax import cli, config_lib
from hvg_jax.chain import levels as chain_levels
from hvg_jax.train import state as state_lib
from hvg_jax.train.checkpoints import quiet_orbax_logging

_CHAIN = flags.DEFINE_string("chain", None, "Comma-separated level workdirs (level 1 first), "
                             "a chain workdir, or an export.")
_OUTPUT = flags.DEFINE_string("output", None, "New directory for the export.")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  quiet_orbax_logging()
  try:
    levels = chain_levels.load(_CHAIN.value, state_lib.replicated(state_lib.make_mesh()))
    chain_levels.write_export(_OUTPUT.value, levels)
  except config_lib.ConfigError as e:
    sys.exit(f"error: {e}")
  for lv in levels:
    logging.info("Exported level %d (%s) from %s", lv.config.level, lv.config.name, lv.source)
  logging.info("Wrote %s", _OUTPUT.value)


if __name__ == "__main__":
  flags.mark_flags_as_required(["chain", "output"])
  app.run(main, flags_parser=cli.parse_flags)
