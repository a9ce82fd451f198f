r"""Exports a trained chain as one Orbax checkpoint: every level's generator (the sampling
one, EMA when kept), its standing statistics and its config.

  python -m hvg_jax.export --chain=workdirs/demo --output=/tmp/demo_export
  python -m hvg_jax.sample --chain=/tmp/demo_export --output=/tmp/demo_samples

Only finished levels export; the export alone is enough to sample.
"""


from absl import app, flags, logging

from hvg_jax import cli
from hvg_jax import level as level_lib

_CHAIN = flags.DEFINE_string("chain", None, "Comma-separated level workdirs (level 1 first), "
                             "a chain workdir, or an export.")
_OUTPUT = flags.DEFINE_string("output", None, "New directory for the export.")


def main(argv):
  cli.start(argv)
  with cli.user_errors():
    _, levels = cli.load_chain(_CHAIN.value)
    level_lib.write_export(_OUTPUT.value, levels)
  for lv in levels:
    logging.info("Exported level %d (%s) from %s", lv.config.level, lv.config.name, lv.source)
  logging.info("Wrote %s", _OUTPUT.value)


if __name__ == "__main__":
  flags.mark_flags_as_required(["chain", "output"])
  app.run(main, flags_parser=cli.parse_flags)
