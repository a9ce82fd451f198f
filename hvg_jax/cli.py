"""What every command shares: its flags parsed with one-line errors, its preamble, and its
user errors as one line.

``app.run(main, flags_parser=cli.parse_flags)``: a user's mistake in the flags (a
misspelled config field, a config file that is not there, a value of the wrong type) ends
the command with one line naming it, not with the traceback of the parsing. In ``main``,
``start(argv)`` then ``with user_errors(): ...`` do the same for everything after.
"""

import ast
import contextlib
import sys

from absl import app, flags, logging

from hvg_jax import runtime
from hvg_jax.chain import levels as chain_levels
from hvg_jax.checkpoints import quiet_orbax_logging
from hvg_jax.errors import UserError


def _one_line(e: BaseException) -> str:
  text = str(e.args[0]) if len(e.args) == 1 else str(e)
  if len(text) > 1 and text[0] == text[-1] and text[0] in "'\"":
    try:  # ConfigDict's AttributeError carries the repr of its message
      text = ast.literal_eval(text)
    except (ValueError, SyntaxError):
      pass
  lines = str(text).strip().splitlines()
  if any(line.startswith("Traceback (most recent call last)") for line in lines):
    # config_flags puts the config file's whole traceback into its message: the error.
    text = f"{lines[0].split('Error whilst')[0]}{lines[-1]}"
  return " ".join(str(text).split())


def parse_flags(argv: list[str]) -> list[str]:
  """absl's parsing of ``argv`` (what ``app.run`` does), exiting with one line on an error."""
  try:
    argv = flags.FLAGS(argv)
  except flags.Error as e:
    sys.exit(f"error: {_one_line(e)}. Pass --helpshort or --helpfull to see the flags.")
  except (AttributeError, KeyError) as e:  # a config override names no field
    overrides = [a.split("=")[0] for a in argv[1:] if a.startswith("--config.")]
    sys.exit(f"error: a config override names no field of the config "
             f"({', '.join(overrides)}): {_one_line(e)}")
  except (OSError, SyntaxError, ImportError, ValueError, TypeError) as e:
    sys.exit(f"error: the config could not be read: {_one_line(e)}")
  for name in flags.FLAGS:
    value = flags.FLAGS[name].value
    # config_flags defers a config file's loading error to the first use of the config.
    if type(value).__name__ == "_ErrorConfig":
      reason = str(value._error).strip().splitlines()[-1].strip()  # pylint: disable=protected-access
      sys.exit(f"error: --{name}: the config file could not be loaded ({reason})")
  return argv


def start(argv: list[str]):
  """A command's preamble: no stray arguments; Orbax's and TensorStore's noise kept out of
  the log (a failed save or restore is reported once, as one line)."""
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  quiet_orbax_logging()


@contextlib.contextmanager
def user_errors():
  """Ends the command with ``error: <message>`` on a UserError (hvg_jax.errors)."""
  try:
    yield
  except UserError as e:
    sys.exit(f"error: {e}")


def load_chain(spec: str):
  """(mesh, levels): the chain ``--chain`` names (level workdirs, a chain workdir or an
  export), its weights replicated over every device."""
  mesh = runtime.make_mesh()
  levels = chain_levels.load(spec, runtime.replicated(mesh))
  for lv in levels:
    logging.info("Level %d: %s", lv.config.level, lv.source)
  return mesh, levels
