"""The base of every error a user can fix (a config field, a missing file, a locked
workdir, ...): its message names the problem and the fix, and a command ends with it as
one line (hvg_jax.cli.user_errors), never a traceback."""


class UserError(Exception):
  """A mistake or condition the user fixes; the message says what and how."""
