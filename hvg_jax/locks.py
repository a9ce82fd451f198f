"""One run at a time where two would interleave their writes: a lock file created
atomically (O_EXCL) by process 0. A training workdir's is ``<workdir>/run.lock``
(:func:`workdir`); a data set being prepared has one beside its clips (hvg_jax.data.prepare).

A second run stops at once naming the holder (host, pid, start time, command). A lock left
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


class LockedError(UserError, RuntimeError):
  """Another run holds the lock."""


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


def acquire(path, *, what: str, instead: str) -> str | None:
  """Takes the lock file ``path`` (of ``what``, e.g. a workdir) for this process; returns
  its path (None where no lock is taken: other processes than 0, object stores). Raises
  LockedError, whose message suggests ``instead`` (e.g. "use another --workdir")."""
  path = str(path)
  if jax.process_index() != 0 or "://" in path:
    return None
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
      logging.warning("Taking over the lock of %s from a run that is gone (%s).", what,
                      _describe(other))
      with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
      continue
    raise LockedError(
        f"{what} is in use by another run ({_describe(other)}). Wait for it to end or "
        f"{instead}; if that run is gone, delete {path}.")
  raise LockedError(f"{what}: another run took its lock ({_describe(_read(path) or {})}); "
                    f"wait for it to end or {instead}.")


def release(path: str | None):
  """Removes the lock at ``path`` if this process still holds it."""
  if path is not None and (_read(path) or {}).get("pid") == os.getpid():
    with contextlib.suppress(FileNotFoundError):
      os.unlink(path)


_HELD: list[str] = []  # this process's locks, innermost last (release_all)


@contextlib.contextmanager
def held(path, *, what: str, instead: str):
  """The lock file ``path`` (:func:`acquire`) while the block runs."""
  path = acquire(path, what=what, instead=instead)
  _HELD.append(path)
  try:
    yield
  finally:
    _HELD.remove(path)
    release(path)


def workdir(run_dir: RunDir | str):
  """One run per workdir: two would interleave their checkpoints and finished generators."""
  run_dir = RunDir.of(run_dir)
  return held(run_dir.lock, what=str(run_dir), instead="use another --workdir")


def release_all():
  """Releases every lock this process holds (before it exits at once: a second Ctrl-C)."""
  for path in reversed(_HELD):
    release(path)
