"""What every command shares: its flags parsed with one-line errors.

``app.run(main, flags_parser=cli.parse_flags)``: a user's mistake in the flags (a
misspelled config field, a config file that is not there, a value of the wrong type) ends
the command with one line naming it, not with the traceback of the parsing.
"""

import ast
import sys

from absl import flags


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
