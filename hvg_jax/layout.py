"""Where a run keeps its files: the one module that names the on-disk layout.

A level's workdir (:class:`LevelDir`)::

  <workdir>/checkpoints/<step>          the training state and its config (hvg_jax.checkpoints)
  <workdir>/checkpoints_unreadable/     checkpoints that would not restore, moved aside
  <workdir>/generator/<step>            the finished level: its sampling generator with
                                        standing statistics for its whole video (hvg_jax.level)
  <workdir>/best/step_<N>               the best generator by an evaluation metric
                                        (hvg_jax.eval.best)
  <workdir>/best_set_aside/             bests ranked by other metrics or settings, moved aside
  <workdir>/samples/step_<NNNNNNNN>     samples written during training (8 digits)
  <workdir>/eval/step_<N>               evaluations during training
  <workdir>/compilation_cache/          compiled programs kept for the next run
  <workdir>/run.lock                    one run per workdir (hvg_jax.locks)

A chain's workdir (:class:`ChainDir`) holds its levels' workdirs ``level1``, ``level2``, ...,
the chain's samples and evaluation in ``samples``, and its own compilation cache and lock.
Sampling keeps the standing statistics it computed in ``standing_stats/`` of a directory
(by default the last path of ``--chain``; hvg_jax.chain.stats_cache).

A path is made absolute once, where it enters (Orbax needs absolute paths; URLs such as
gs://... stay as they are): by building a LevelDir or ChainDir from it.
"""

import dataclasses
import os

from etils import epath

BEST_STEP_PREFIX = "step"  # best/step_<N>: Orbax's step_prefix of the best generator's manager
STANDING_STATS_DIR = "standing_stats"  # sampling's cache of standing statistics


def absolute(path) -> epath.Path:
  """``path`` as an absolute path; URLs such as gs://... as they are."""
  path = os.fspath(path) if not isinstance(path, str) else path
  return epath.Path(path if "://" in path else os.path.abspath(path))


@dataclasses.dataclass(frozen=True)
class RunDir:
  """A directory a command runs in: what every workdir has (a level's, or a chain's)."""
  path: epath.Path

  def __post_init__(self):
    object.__setattr__(self, "path", absolute(self.path))

  @classmethod
  def of(cls, where) -> "RunDir":
    """``where`` (a path, or already one of these) as this kind of directory."""
    return where if isinstance(where, cls) else cls(getattr(where, "path", where))

  def __str__(self) -> str:
    return str(self.path)

  def __fspath__(self) -> str:
    return str(self.path)

  def exists(self) -> bool:
    return self.path.exists()

  @property
  def lock(self) -> epath.Path:
    return self.path / "run.lock"

  @property
  def compilation_cache(self) -> epath.Path:
    return self.path / "compilation_cache"


class LevelDir(RunDir):
  """A level's workdir (the layout in the module docstring)."""

  @property
  def checkpoints(self) -> epath.Path:
    return self.path / "checkpoints"

  @property
  def checkpoints_unreadable(self) -> epath.Path:
    return self.path / "checkpoints_unreadable"

  @property
  def generators(self) -> epath.Path:
    return self.path / "generator"

  def generator(self, step: int) -> epath.Path:
    return self.generators / str(step)

  @property
  def best(self) -> epath.Path:
    return self.path / "best"

  def best_generator(self, step: int) -> epath.Path:
    return self.best / f"{BEST_STEP_PREFIX}_{step}"

  @property
  def best_set_aside(self) -> epath.Path:
    return self.path / "best_set_aside"

  def samples(self, step: int) -> epath.Path:
    return self.path / "samples" / f"step_{step:08d}"

  def eval(self, step: int) -> epath.Path:
    return self.path / "eval" / f"step_{step}"

  def is_level(self) -> bool:
    """Whether a level was trained here (it has checkpoints)."""
    return self.checkpoints.exists()


class ChainDir(RunDir):
  """A chain's workdir: its levels' workdirs ``level<k>``, and the chain's samples."""

  def level(self, k: int) -> LevelDir:
    return LevelDir(self.path / f"level{k}")

  def levels(self) -> list[LevelDir]:
    """The level workdirs there are (level1, level2, ... without a gap), in order."""
    found = []
    while (d := self.level(len(found) + 1)).exists():
      found.append(d)
    return found

  @property
  def samples(self) -> epath.Path:
    return self.path / "samples"
