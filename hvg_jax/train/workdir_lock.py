"""One run per workdir: ``<workdir>/run.lock``, created atomically (O_EXCL) by process 0.

Two runs writing one workdir would interleave their checkpoints and finished generators. A
second run stops at once naming the holder (host, pid, start time, command). A lock left
by a process of this host that no longer exists (a kill, a crash) is taken over with a
warning; one from another host cannot be checked from here, so the error says how to remove
it. Object stores (gs://...) have no atomic create: there the lock is not taken.
"""

import contextlib
import json
import logging
import os
import socket
import sys
import time

import jax

from hvg_jax.errors import UserError
from hvg_jax.layout import RunDir


class WorkdirLockedError(UserError, RuntimeError):
  """Another run holds the workdir."""


def _alive(pid: int) -> bool:
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:  # another user's live process
    return True
  return True


def _create(path: str, holder: dict) -> bool:
  try:
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
  except FileExistsError:
    return False
  with os.fdopen(fd, "w") as f:
    json.dump(holder, f)
  return True


def _read(path: str) -> dict | None:
  try:
    with open(path) as f:
      return json.load(f)
  except FileNotFoundError:
    return None
  except (OSError, ValueError):
    return {}  # being written, or garbled


def _describe(holder: dict) -> str:
  return (f"host {holder.get('host', '?')}, pid {holder.get('pid', '?')}, started "
          f"{holder.get('started', '?')}: {holder.get('command', '?')}")


def acquire(workdir: RunDir | str) -> str | None:
  """Takes the lock of ``workdir`` for this process; returns its path (None where no lock
  is taken: other processes than 0, object stores). Raises WorkdirLockedError."""
  if jax.process_index() != 0 or "://" in str(workdir):
    return None
  workdir = RunDir.of(workdir)
  path = str(workdir.lock)
  holder = {"host": socket.gethostname(), "pid": os.getpid(),
            "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "command": " ".join(sys.argv)}
  for _ in range(2):
    if _create(path, holder):
      return path
    other = _read(path)
    if other is None:  # released meanwhile
      continue
    if other.get("host") == holder["host"] and isinstance(other.get("pid"), int) and \
        not _alive(other["pid"]):
      logging.warning("Taking over the lock of %s from a run that is gone (%s).", workdir,
                      _describe(other))
      with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
      continue
    raise WorkdirLockedError(
        f"{workdir} is in use by another run ({_describe(other)}). Wait for it to end or use "
        f"another --workdir; if that run is gone, delete {path}.")
  raise WorkdirLockedError(f"{workdir}: another run took its lock ({_describe(_read(path) or {})})"
                           "; wait for it to end or use another --workdir.")


def release(path: str | None):
  """Removes the lock at ``path`` if this process still holds it."""
  if path is not None and (_read(path) or {}).get("pid") == os.getpid():
    with contextlib.suppress(FileNotFoundError):
      os.unlink(path)


_HELD: list[str] = []  # this process's locks, innermost last (release_all)


@contextlib.contextmanager
def held(workdir: RunDir | str):
  """The lock of ``workdir`` while the block runs."""
  path = acquire(workdir)
  _HELD.append(path)
  try:
    yield
  finally:
    _HELD.remove(path)
    release(path)


def release_all():
  """Releases every lock this process holds (before it exits at once: a second Ctrl-C)."""
  for path in reversed(_HELD):
    release(path)
