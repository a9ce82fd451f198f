"""Stopping a level's training between steps: SIGTERM (a cluster's preemption notice) and
Ctrl-C (SIGINT) save a checkpoint at the end of the step and return. A second Ctrl-C stops
at once: the process exits (status 130) without saving, losing the steps since the last
checkpoint; a save in flight is left as Orbax's temporary directory, which the next run
removes, and the workdir's lock is released."""

import contextlib
import logging
import os
import signal
import sys

from hvg_jax import locks


class StopRequest:
  """Turns SIGTERM and a first SIGINT into a flag the loop checks after each step (then
  save and return)."""

  def __init__(self):
    self.requested = False
    self.interrupted = False

  def _handler(self, signum, frame):
    del frame
    if signum == signal.SIGINT and self.interrupted:
      # Exiting here: an exception would be swallowed by whatever it interrupts (a
      # checkpoint save's threads), and waiting is what the user just refused.
      locks.release_all()
      print("Interrupted: stopped at once, without saving.", file=sys.stderr, flush=True)
      os._exit(130)  # pylint: disable=protected-access
    if signum == signal.SIGINT:
      self.interrupted = True
      logging.warning("Ctrl-C: saving a checkpoint after this step and stopping; press "
                      "Ctrl-C again to stop at once without saving.")
    else:
      logging.warning("Received signal %d: saving a checkpoint and stopping.", signum)
    self.requested = True

  @contextlib.contextmanager
  def installed(self):
    try:
      previous = {s: signal.signal(s, self._handler) for s in (signal.SIGTERM, signal.SIGINT)}
    except ValueError:  # not the main thread: no handler, preemption still works
      yield self
      return
    try:
      yield self
    finally:
      for s, handler in previous.items():
        signal.signal(s, handler)
