"""What every command shares: its flags parsed with one-line errors, its preamble, and its
user errors as one line.

``app.run(main, flags_parser=cli.parse_flags)``: a user's mistake in the flags (a
misspelled config field, a config file that is not there, a value of the wrong type) ends
the command with one line naming it, not with the traceback of the parsing. In ``main``,
``start(argv)`` then ``with user_errors(): ...`` do the same for everything after.
"""

import ast
import contextlib
import logging as std_logging
import sys
import warnings

from absl import app, flags, logging

from hvg_jax import runtime
from hvg_jax.chain import levels as chain_levels
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


class _QuietCheckpointing(std_logging.Filter):
  """Orbax logs every step of every save at INFO; keep its warnings and errors, but the
  one about a manager we opened read-only on purpose (reading a level's checkpoints) and
  the echoes of a failure that reaches the command as one CheckpointError."""

  def filter(self, record):
    if record.name == "asyncio" and "exception was never retrieved" in str(record.msg):
      return False  # the other reads or writes of a failed restore or save, collected late
    if "/orbax/" not in record.pathname:
      return True
    # A failed save's threads each log the error again, with a traceback; it reaches the
    # command (CheckpointError, WriteError) as one line, so theirs are left out.
    if "_SignalingThread.run() raised an exception" in str(record.msg):
      return False
    record.exc_info, record.exc_text = None, None
    return (record.levelno >= std_logging.WARNING
            and not str(record.msg).startswith("Given directory is read only"))


def quiet_orbax_logging():
  """For the commands: Orbax's warnings and errors, not its INFO lines."""
  logging.get_absl_handler().addFilter(_QuietCheckpointing())
  previous = sys.unraisablehook

  def unraisable(u):
    # After a failed restore or save, TensorStore's callbacks into Orbax's finished event
    # loop each print "Event loop is closed"; the failure itself is reported once.
    if not (isinstance(u.exc_value, RuntimeError) and str(u.exc_value) == "Event loop is closed"):
      previous(u)

  sys.unraisablehook = unraisable
  # Their coroutines abandoned by the failure warn when collected, after the error line.
  warnings.filterwarnings("ignore", message=r"coroutine .* was never awaited",
                          category=RuntimeWarning)


def start(argv: list[str]):
  """A command's preamble: no stray arguments; Orbax's and TensorStore's noise kept out of
  the log (a failed save or restore is reported once, as one line)."""
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  quiet_orbax_logging()


@contextlib.contextmanager
def user_errors():
  """Ends the command with ``error: <message>`` on a UserError (hvg_jax.errors), and with
one line and exit status 130 (a shell's for Ctrl-C) when interrupted."""
  try:
    yield
  except UserError as e:
    sys.exit(f"error: {e}")
  except KeyboardInterrupt:
    print("Interrupted.", file=sys.stderr)
    sys.exit(130)


def load_chain(spec: str):
  """(mesh, levels): the chain ``--chain`` names (level workdirs, a chain workdir or an
  export), its weights replicated over every device."""
  mesh = runtime.make_mesh()
  levels = chain_levels.load(spec, runtime.replicated(mesh))
  for lv in levels:
    logging.info("Level %d: %s", lv.config.level, lv.source)
  return mesh, levels
