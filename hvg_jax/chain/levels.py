"""The frozen levels of a chain, restored from level workdirs, chain workdirs or exports,
and checked to chain: levels 1, 2, ... each upsampling the videos of the one below. Every
check runs before anything is compiled. (One level, in memory and on disk: hvg_jax.level.)

Where levels come from (``config.lower_levels``, ``hvg_jax.sample --chain``), each path is
  - a level workdir (``<dir>/checkpoints``): one level;
  - a chain workdir (``<dir>/level1``, ``<dir>/level2``, ...): its levels in order;
  - an export (``hvg_jax.export``): the levels it holds.
"""

import itertools
import logging

import ml_collections

from hvg_jax import config_lib
from hvg_jax import level as level_lib
from hvg_jax.layout import ChainDir, LevelDir
from hvg_jax.level import ChainError, FrozenLevel


def split_paths(paths) -> list[str]:
  if isinstance(paths, str):
    paths = paths.split(",")
  return [str(p).strip() for p in paths if str(p).strip()]


def load(paths, sharding=None) -> list[FrozenLevel]:
  """The levels at ``paths`` (comma-separated or a sequence), level 1 first, checked to
  chain."""
  levels = []
  for p in split_paths(paths):
    as_level, as_chain = LevelDir(p), ChainDir(p)
    if not as_level.exists():
      raise ChainError(f"{p} does not exist: name the workdir (or export) of a trained level")
    if level_lib.is_export(p):
      levels.extend(level_lib.load_export(p, sharding))
    elif as_level.is_level() or not as_chain.levels():
      levels.append(level_lib.load_workdir(as_level, sharding))
    else:  # a chain workdir: its finished levels (the one in progress is left out)
      dirs = as_chain.levels()
      finished = list(itertools.takewhile(level_lib.is_finished, dirs))
      if not finished:
        level_lib.load_workdir(dirs[0])  # raises, saying why
      for d in dirs[len(finished):]:
        logging.warning("Leaving out %s: it is not finished.", d)
      levels.extend(level_lib.load_workdir(d, sharding) for d in finished)
  if not levels:
    raise ChainError("no levels given: name level workdirs, a chain workdir or an export")
  check(levels)
  return levels


def check(levels: list[FrozenLevel]):
  """Raises ChainError unless the levels are 1, 2, ... each upsampling the one below."""
  numbers = [lv.config.level for lv in levels]
  if numbers != list(range(1, len(levels) + 1)):
    raise ChainError(
        "the levels must be 1, 2, ... in order; got levels "
        f"{numbers} from {[lv.source for lv in levels]}")
  for lower, upper in zip(levels, levels[1:]):
    try:
      config_lib.check_chain(lower.config, upper.config)
    except config_lib.ConfigError as e:
      raise ChainError(f"{upper.source} does not upsample {lower.source}: {e}") from None


def load_lower(config: ml_collections.ConfigDict, sharding=None) -> list[FrozenLevel]:
  """The frozen levels 1..l-1 below an upsampling level's config, checked to chain with it."""
  below = config.level - 1
  if not split_paths(config.lower_levels):
    raise ChainError(
        f"config.lower_levels: level {config.level} ({config.name}) trains on videos of "
        f"the frozen level{'s 1..' if below > 1 else ' '}{below} below it; name their "
        "workdirs in order (--config.lower_levels=DIR1,DIR2,...), a chain workdir or an "
        "export, or train the whole chain with its chain config (e.g. configs/demo.py)")
  levels = load(config.lower_levels, sharding)
  if len(levels) != below:
    raise ChainError(
        f"config.lower_levels: level {config.level} needs levels 1..{below} below it, "
        f"{config.lower_levels!r} holds {len(levels)}")
  try:
    config_lib.check_chain(levels[-1].config, config)
  except config_lib.ConfigError as e:
    raise ChainError(f"{config.name} does not upsample {levels[-1].source}: {e}") from None
  return levels
