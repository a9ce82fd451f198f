"""Files written whole or not at all, and a failed write as one line.

``with atomic(path) as f: ...`` writes a temporary file beside ``path`` and renames it to
``path`` when the block ends without an error, so a reader (or a user) never finds a file
that looks complete and is not: a full disk, a kill or Ctrl-C mid-write leaves the previous
file, or none. An OS error is one WriteError naming the path and the cause.
"""

import contextlib
import os
import re
import socket

from etils import epath

from hvg_jax.errors import UserError


class WriteError(UserError, OSError):
  """A file could not be written; nothing partial was left under its name."""


_IO_ERROR = re.compile(r"os_error_code|errno|no space left|file too large|input/output error|"
                       r"read-only file system|permission denied|disk quota", re.IGNORECASE)


def is_io_error(e: BaseException) -> bool:
  """Whether ``e`` (or what caused it) is the storage failing; TensorStore reports it as a
  ValueError naming the OS error."""
  while e is not None:
    if isinstance(e, OSError) or _IO_ERROR.search(str(e)):
      return True
    e = e.__cause__ or e.__context__
  return False


def io_reason(e: BaseException) -> str:
  """The OS error of ``e`` in words (``No space left on device (errno 28) writing <f>``),
  also under a TensorStore message (``... [os_error_code='28']``), else the message in one
  line."""
  text = str(e)
  if isinstance(e, OSError) and e.errno:
    return f"{e.strerror} (errno {e.errno}){f' writing {e.filename}' if e.filename else ''}"
  code = re.search(r"os_error_code='?(\d+)", text)
  if code:
    path = re.search(r'(?:writing|Failed writing:) (?:local file )?"([^"]+)"', text)
    where = f" writing {path.group(1)}" if path else ""
    return f"{os.strerror(int(code.group(1)))} (errno {code.group(1)}){where}"
  text = " ".join(text.split(" [tensorstore_spec")[0].split()) or type(e).__name__
  return text if len(text) <= 300 else text[:300] + " ..."


def temporary_name(path: epath.Path) -> epath.Path:
  """A name beside ``path`` that no other process or host writing the same file uses."""
  return path.parent / f".{path.name}.{socket.gethostname()}.{os.getpid()}.tmp"


@contextlib.contextmanager
def atomic(path, mode: str = "wb"):
  """An open file that becomes ``path`` when the block ends without an error (replacing
  what was there); WriteError on an OS error, with no partial file left."""
  path = epath.Path(path)
  tmp = temporary_name(path)
  try:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tmp.open(mode) as f:
      yield f
    tmp.replace(path)
  except OSError as e:
    raise WriteError(f"{path} could not be written: {io_reason(e)}. Free space or fix the "
                     "storage (or choose another place), then run the command again") from None
  finally:
    with contextlib.suppress(OSError):
      if tmp.exists():
        tmp.unlink()
