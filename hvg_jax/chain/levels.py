"""The frozen levels of a chain, restored from level workdirs, chain workdirs or exports.

A finished level's last checkpoint holds its sampling generator (the EMA one when kept)
with standing BatchNorm statistics for its whole video. Here such generators are restored,
split into parameters and per-timestep statistics (which sampling slices, resizes and
recomputes), and checked to chain: levels 1, 2, ... each upsampling the videos of the one
below. Every check runs before anything is compiled.

Where levels come from (``config.lower_levels``, ``hvg_jax.sample --chain``), each path is
  - a level workdir (``<dir>/checkpoints``): one level;
  - a chain workdir (``<dir>/level1``, ``<dir>/level2``, ...): its levels in order;
  - an export (``hvg_jax.export``): the levels it holds.
"""

import dataclasses
import itertools
import json
import logging

import jax
import ml_collections
import orbax.checkpoint as ocp
from etils import epath
from flax import nnx

from hvg_jax import config_lib, models
from hvg_jax.layers import StandingStat, reset_standing_stats
from hvg_jax.train.checkpoints import Checkpoints, absolute


# A finished level's sampling generator: <workdir>/generator/<step>, a one-level export.
GENERATOR_DIR = "generator"


class ChainError(config_lib.ConfigError):
  """Levels that are missing, unfinished, or do not chain; the message says what to do."""


@dataclasses.dataclass
class FrozenLevel:
  """One trained level's generator: (graphdef, params, stats) of an nnx split.

  ``stats`` holds the per-timestep standing statistics (StandingStat) for
  ``stats_frames`` timesteps; ``params`` everything else (weights, spectral-norm vectors).
  """
  config: ml_collections.ConfigDict
  graphdef: nnx.GraphDef
  params: nnx.State
  stats: nnx.State
  source: str

  @property
  def shapes(self) -> config_lib.LevelShapes:
    return config_lib.level_shapes(self.config)

  @property
  def stats_frames(self) -> int:
    return stats_frames(self.stats)

  @property
  def arrays(self):
    """What a jitted function takes as arguments: (params, stats)."""
    return self.params, self.stats


def stats_frames(stats: nnx.State) -> int:
  return next(x.shape[0] for x in jax.tree.leaves(stats) if x.ndim)


def abstract_generator(config: ml_collections.ConfigDict, num_frames: int, sharding=None):
  """(graphdef, abstract state) of a level's generator with standing statistics for
  ``num_frames`` timesteps; nothing allocated."""
  def make():
    g = models.build_generator(config, rngs=nnx.Rngs(0))
    reset_standing_stats(g, num_frames)
    return g

  graphdef, state = nnx.split(nnx.eval_shape(make))
  state = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding),
                       state)
  return graphdef, state


def frozen_level(config, graphdef, state, source: str) -> FrozenLevel:
  """Splits a generator's (graphdef, state) into a FrozenLevel."""
  graphdef, stats, params = nnx.split(nnx.merge(graphdef, state), StandingStat, ...)
  return FrozenLevel(config=config, graphdef=graphdef, params=params, stats=stats,
                     source=source)


def generator_state(level: FrozenLevel) -> nnx.State:
  """The whole generator state (params and statistics) of a level, as saved."""
  return nnx.state(nnx.merge(level.graphdef, level.params, level.stats))


def finished_steps(workdir) -> list[int]:
  """Steps at which the level in ``workdir`` saved its finished generator, oldest first."""
  directory = absolute(workdir) / GENERATOR_DIR
  if not directory.exists():
    return []
  return sorted(int(p.name) for p in directory.iterdir() if p.name.isdigit())


def status(workdir) -> tuple[int | None, int | None, dict | None]:
  """(latest checkpoint step, step of the newest finished generator, saved config)."""
  path = absolute(workdir)
  if not (path / "checkpoints").exists():
    return None, None, None
  checkpoints = Checkpoints(path)
  try:
    latest = checkpoints.latest_step()
    config = checkpoints.saved_config(latest) if latest is not None else None
  finally:
    checkpoints.close()
  finished = finished_steps(path)
  return latest, (finished[-1] if finished else None), config


def is_finished(workdir, num_steps: int | None = None) -> bool:
  """Whether the level in ``workdir`` saved its generator at its latest step (and that
  step is at least ``num_steps``)."""
  latest, finished, _ = status(workdir)
  return latest is not None and finished == latest and latest >= (num_steps or 0)


def save_finished(workdir, level: FrozenLevel, step: int):
  """Saves the finished level's sampling generator as ``workdir/generator/<step>`` (a
  one-level export) and removes older ones."""
  path = absolute(workdir) / GENERATOR_DIR
  write_export(path / str(step), [level], step=step, overwrite=True)
  if jax.process_index() == 0:
    for old in finished_steps(workdir):
      if old != step:
        (path / str(old)).rmtree()


def load_workdir(path, sharding=None) -> FrozenLevel:
  """The finished level trained in workdir ``path``, or ChainError saying what is missing."""
  path = absolute(path)
  latest, finished, saved = status(path)
  if latest is None:
    raise ChainError(f"no level was trained in {path} (it has no checkpoints): train that "
                     "level there first, or name the right workdir")
  if finished != latest:
    name, num_steps = saved["name"], saved["train"]["num_steps"]
    raise ChainError(
        f"the level in {path} ({name}) is unfinished: {latest} of {num_steps} steps. Run "
        "the command that trained it (or its chain's command) again to finish it.")
  (level,) = load_export(path / GENERATOR_DIR / str(finished), sharding)
  level.source = f"{path} (step {finished})"
  return level


def is_export(path) -> bool:
  path = absolute(path)
  return (path / "generators").exists() and (path / "configs").exists()


def _checkpointer():
  return ocp.Checkpointer(ocp.CompositeCheckpointHandler())


def load_export(path, sharding=None) -> list[FrozenLevel]:
  """Every level of an export written by :func:`write_export`."""
  path = absolute(path)
  checkpointer = _checkpointer()
  saved = checkpointer.restore(path, ocp.args.Composite(configs=ocp.args.JsonRestore()))
  levels, targets = [], {}
  for name, entry in sorted(saved["configs"].items(), key=lambda kv: kv[1]["config"]["level"]):
    config = ml_collections.ConfigDict(entry["config"])
    graphdef, abstract = abstract_generator(config, entry["stats_frames"], sharding)
    levels.append((name, config, graphdef, abstract))
    targets[name] = nnx.to_pure_dict(abstract)
  restored = checkpointer.restore(path, ocp.args.Composite(
      generators=ocp.args.StandardRestore(targets)))["generators"]
  out = []
  for name, config, graphdef, abstract in levels:
    nnx.replace_by_pure_dict(abstract, restored[name])
    out.append(frozen_level(config, graphdef, abstract, source=f"{path} ({name})"))
  return out


def write_export(path, levels: list[FrozenLevel], step: int | None = None,
                 overwrite: bool = False):
  """One Orbax checkpoint of every level's generator, statistics and config."""
  path = absolute(path)
  if path.exists() and not overwrite:
    raise ChainError(f"{path} already exists; export to a new directory")
  generators = {f"level{lv.config.level}": nnx.to_pure_dict(generator_state(lv))
                for lv in levels}
  configs = {f"level{lv.config.level}": {"config": json.loads(lv.config.to_json()),
                                         "stats_frames": lv.stats_frames,
                                         "source": lv.source, "step": step}
             for lv in levels}
  checkpointer = _checkpointer()
  checkpointer.save(path, ocp.args.Composite(generators=ocp.args.StandardSave(generators),
                                             configs=ocp.args.JsonSave(configs)),
                    force=overwrite)


def level_dirs(path) -> list[epath.Path]:
  """The level workdirs of a chain workdir (level1, level2, ...), in order."""
  path = absolute(path)
  found = []
  k = 1
  while (path / f"level{k}").exists():
    found.append(path / f"level{k}")
    k += 1
  return found


def split_paths(paths) -> list[str]:
  if isinstance(paths, str):
    paths = paths.split(",")
  return [str(p).strip() for p in paths if str(p).strip()]


def load(paths, sharding=None) -> list[FrozenLevel]:
  """The levels at ``paths`` (comma-separated or a sequence), level 1 first, checked to
  chain."""
  levels = []
  for p in split_paths(paths):
    if not absolute(p).exists():
      raise ChainError(f"{p} does not exist: name the workdir (or export) of a trained level")
    if is_export(p):
      levels.extend(load_export(p, sharding))
    elif (absolute(p) / "checkpoints").exists() or not level_dirs(p):
      levels.append(load_workdir(p, sharding))
    else:  # a chain workdir: its finished levels (the one in progress is left out)
      dirs = level_dirs(p)
      finished = list(itertools.takewhile(is_finished, dirs))
      if not finished:
        load_workdir(dirs[0])  # raises, saying why
      for d in dirs[len(finished):]:
        logging.warning("Leaving out %s: it is not finished.", d)
      levels.extend(load_workdir(d, sharding) for d in finished)
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
