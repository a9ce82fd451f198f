"""Stopping a level's training between steps: SIGTERM (and a cluster's preemption notice)
saves a checkpoint and returns."""

import contextlib
import logging
import signal


class StopRequest:
  """Turns SIGTERM into a flag the loop checks after each step (then save and return)."""

  def __init__(self):
    self.requested = False

  @contextlib.contextmanager
  def installed(self):
    def handler(signum, frame):
      del frame
      logging.warning("Received signal %d: saving a checkpoint and stopping.", signum)
      self.requested = True
    try:
      previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: no handler, preemption still works
      yield self
      return
    try:
      yield self
    finally:
      signal.signal(signal.SIGTERM, previous)
