"""The progress bar of a sampling job: a tqdm bar (with its ETA) over the work a plan
counts, fed the units the runner reports as its calls are made."""

import contextlib

from tqdm import tqdm


class Progress:
  """One bar per job (``enabled``: shown); a job opened within another adds to its bar."""

  def __init__(self, enabled: bool = True):
    self.enabled = enabled
    self._bar = None  # the progress of the job under way

  def update(self, units: float):
    if self._bar is not None:
      self._bar.update(units)

  @contextlib.contextmanager
  def job(self, work: float, desc: str, add: bool = False):
    """A progress bar over ``work`` units with its ETA; within another job's, nothing
    (its opener counted the work), or with ``add`` (work it could not know of, such as
    statistics not found in a cache) ``work`` more on that bar."""
    if self._bar is not None:
      if add:
        self._bar.total += work
        self._bar.refresh()
      yield
      return
    self._bar = tqdm(total=work, desc=desc, disable=not self.enabled, mininterval=0.5,
                     bar_format="{desc}: {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}]")
    try:
      yield
    finally:
      self._bar.close()
      self._bar = None
