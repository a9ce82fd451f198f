"""A trained level, in memory and on disk.

In memory a level is a ``FrozenLevel``: its config and its sampling generator split into
parameters and per-timestep standing statistics (which sampling slices, resizes and
recomputes). On disk a level lives in its workdir (hvg_jax.layout): its training
checkpoints, and once finished its sampling generator (the EMA one when kept) with standing
statistics for its whole video, saved as a one-level export.

A level is finished when its newest checkpoint has a generator saved at the same step.
Exports (``hvg_jax.export``) hold the generators of several levels in one Orbax checkpoint,
with a SHA-256 checksum of every array beside the configs: a damaged file (a flipped byte,
a truncated or missing file) is a DamagedArtefactError naming it, never a silently wrong
generator. A finished level's checkpoints rebuild its generator (hvg_jax.train.trainer).
"""

import dataclasses
import functools
import hashlib
import json
import logging
import threading
import time

import jax
import ml_collections
import numpy as np
import orbax.checkpoint as ocp
from flax import nnx
from jax.experimental import multihost_utils

from hvg_jax import config_lib, files, models, runtime
from hvg_jax.checkpoints import Checkpoints, damage_reason
from hvg_jax.layout import LevelDir, absolute
from hvg_jax.layers import StandingStat, reset_standing_stats


class ChainError(config_lib.ConfigError):
  """Levels that are missing, unfinished, or do not chain; the message says what to do."""


class DamagedArtefactError(ChainError):
  """An export or a finished generator that cannot be read, or whose arrays do not match
  the checksums saved with them."""

  def __init__(self, path, reason: str, fix: str):
    super().__init__(f"{path} is damaged ({reason}): {fix}")
    self.path, self.reason = path, reason


EXPORT_FIX = ("export the chain again from its level workdirs (python -m hvg_jax.export), "
              "or restore the directory from a copy")


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

  @functools.cached_property
  def shapes(self) -> config_lib.LevelShapes:
    """Computed once (the config is validated then, not in every sampling loop)."""
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
  return graphdef, runtime.abstract(state, sharding)


def frozen_level(config, graphdef, state, source: str) -> FrozenLevel:
  """Splits a generator's (graphdef, state) into a FrozenLevel."""
  graphdef, stats, params = nnx.split(nnx.merge(graphdef, state), StandingStat, ...)
  return FrozenLevel(config=config, graphdef=graphdef, params=params, stats=stats,
                     source=source)


def sampling_generator(gan):
  """The generator a level samples with: the EMA one when kept."""
  return gan.ema_generator if gan.ema_generator is not None else gan.generator


def from_training_state(config, graphdef, state, *, workdir, step: int) -> FrozenLevel:
  """The level being trained (``GANState``'s graphdef and state) as a FrozenLevel: its
  sampling generator, with the statistics it holds."""
  g_graphdef, g_state = nnx.split(sampling_generator(nnx.merge(graphdef, state)))
  return frozen_level(config, g_graphdef, g_state, source=f"{workdir} (step {step})")


def generator_state(level: FrozenLevel) -> nnx.State:
  """The whole generator state (params and statistics) of a level, as saved."""
  return nnx.state(nnx.merge(level.graphdef, level.params, level.stats))


def finished_steps(workdir: LevelDir | str) -> list[int]:
  """Steps at which the level in ``workdir`` saved its finished generator, oldest first."""
  directory = LevelDir.of(workdir).generators
  if not directory.exists():
    return []
  return sorted(int(p.name) for p in directory.iterdir() if p.name.isdigit())


def status(workdir: LevelDir | str) -> tuple[int | None, int | None, dict | None]:
  """(latest checkpoint step, step of the newest finished generator, saved config)."""
  path = LevelDir.of(workdir)
  if not path.is_level():
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
  step is at least ``num_steps``, e.g. its config's ``train.num_steps``)."""
  latest, finished, _ = status(workdir)
  return latest is not None and finished == latest and latest >= (num_steps or 0)


def save_finished(workdir: LevelDir, level: FrozenLevel, step: int):
  """Finishes the level: saves its sampling generator, with the standing statistics for its
  whole video, as the workdir's generator of ``step`` (a one-level export) and removes
  older ones."""
  write_export(workdir.generator(step), [level], step=step, overwrite=True)
  if jax.process_index() == 0:
    for old in finished_steps(workdir):
      if old != step:
        workdir.generator(old).rmtree()


def load_workdir(path: LevelDir | str, sharding=None) -> FrozenLevel:
  """The finished level trained in workdir ``path``, or ChainError saying what is missing."""
  path = LevelDir.of(path)
  latest, finished, saved = status(path)
  if latest is None:
    raise ChainError(f"no level was trained in {path} (it has no checkpoints): train that "
                     "level there first, or name the right workdir")
  if finished != latest:
    name, num_steps = saved["name"], saved["train"]["num_steps"]
    raise ChainError(
        f"the level in {path} ({name}) is unfinished: {latest} of {num_steps} steps. Run "
        "the command that trained it (or its chain's command) again to finish it.")
  try:
    (level,) = load_export(path.generator(finished), sharding)
  except DamagedArtefactError as e:
    raise DamagedArtefactError(
        e.path, e.reason,
        f"the level's checkpoints rebuild it: run the command that trained it again (its "
        f"--config with --workdir={path}, or its chain's command), then this one") from None
  level.source = f"{path} (step {finished})"
  return level


def is_export(path) -> bool:
  path = absolute(path)
  return (path / "generators").exists() and (path / "configs").exists()


def generator_damage(workdir: LevelDir | str) -> str | None:
  """Why the newest finished generator in ``workdir`` cannot be used (it does not read, or
  its arrays fail their checksums), or None when it is sound or there is none."""
  finished = finished_steps(workdir)
  if not finished:
    return None
  try:
    load_export(LevelDir.of(workdir).generator(finished[-1]))
  except DamagedArtefactError as e:
    return e.reason
  return None


def array_checksums(tree) -> dict[str, str]:
  """{array's path: SHA-256 of its dtype, shape and bytes} over a pure dict of arrays."""
  sums = {}
  for keys, x in jax.tree_util.tree_flatten_with_path(tree)[0]:
    if isinstance(x, jax.Array) and x.is_fully_replicated:
      x = x.addressable_data(0)
    elif isinstance(x, jax.Array) and not x.is_fully_addressable:
      x = multihost_utils.process_allgather(x, tiled=True)  # every process calls this
    x = np.ascontiguousarray(np.asarray(x))
    digest = hashlib.sha256(f"{x.dtype}{x.shape}".encode())
    digest.update(x.tobytes())
    sums[jax.tree_util.keystr(keys, simple=True, separator="/")] = digest.hexdigest()
  return sums


def _checkpointer():
  return ocp.Checkpointer(ocp.CompositeCheckpointHandler())


def _entry_digest(entry: dict) -> str:
  """SHA-256 of a level's saved description (config, lengths, the arrays' checksums)."""
  described = {k: v for k, v in entry.items() if k != "digest"}
  return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()


def _check_description(path, name: str, entry: dict):
  """DamagedArtefactError unless a level's saved description (config, lengths, the
  arrays' checksums) matches the digest saved with it."""
  if "checksums" not in entry:  # written before exports carried checksums
    logging.warning("%s (%s) has no checksums: its arrays cannot be verified.", path, name)
  elif entry.get("digest") != _entry_digest(entry):
    raise DamagedArtefactError(
        path, f"{name}'s config or checksums do not match the digest saved with them",
        EXPORT_FIX)


def _check_arrays(path, name: str, arrays, entry: dict):
  saved = entry.get("checksums")
  if saved is None:
    return
  sums = array_checksums(arrays)
  wrong = sorted(k for k in saved.keys() | sums.keys() if saved.get(k) != sums.get(k))
  if wrong:
    more = f" and {len(wrong) - 1} more" if len(wrong) > 1 else ""
    raise DamagedArtefactError(
        path, f"{name}'s array {wrong[0]}{more} does not match the checksum saved with it",
        EXPORT_FIX)


def load_export(path, sharding=None) -> list[FrozenLevel]:
  """Every level of an export written by :func:`write_export`, its configs and arrays
  verified against their checksums; DamagedArtefactError if it cannot be read or they do
  not match."""
  path = absolute(path)
  checkpointer = _checkpointer()
  try:
    saved = checkpointer.restore(path, ocp.args.Composite(configs=ocp.args.JsonRestore()))
    entries = sorted(saved["configs"].items(), key=lambda kv: kv[1]["config"]["level"])
    for name, entry in entries:
      _check_description(path, name, entry)
    levels, targets = [], {}
    for name, entry in entries:
      config = config_lib.from_saved(entry["config"])
      graphdef, abstract = abstract_generator(config, entry["stats_frames"], sharding)
      levels.append((name, config, graphdef, abstract, entry))
      targets[name] = nnx.to_pure_dict(abstract)
    restored = checkpointer.restore(path, ocp.args.Composite(
        generators=ocp.args.StandardRestore(targets)))["generators"]
  except DamagedArtefactError:
    raise
  except Exception as e:  # pylint: disable=broad-except
    # Orbax, TensorStore and JSON report damage in many ways (ValueError, KeyError,
    # FileNotFoundError, ...); a missing directory is not damage: ChainError says so.
    if not path.exists():
      raise ChainError(f"{path} does not exist: name an export or a level workdir") from None
    raise DamagedArtefactError(path, damage_reason(e), EXPORT_FIX) from None
  out = []
  for name, config, graphdef, abstract, entry in levels:
    _check_arrays(path, name, restored[name], entry)
    nnx.replace_by_pure_dict(abstract, restored[name])
    out.append(frozen_level(config, graphdef, abstract, source=f"{path} ({name})"))
  return out


def export_args(levels: list[FrozenLevel], step: int | None = None) -> ocp.args.Composite:
  """What an export holds, as Orbax save arguments: every level's generator and
  statistics (``generators``) and its config (``configs``)."""
  generators = {f"level{lv.config.level}": nnx.to_pure_dict(generator_state(lv))
                for lv in levels}
  configs = {}
  for lv in levels:
    name = f"level{lv.config.level}"
    entry = {"config": json.loads(lv.config.to_json()), "stats_frames": lv.stats_frames,
             "source": lv.source, "step": step, "checksums": array_checksums(generators[name])}
    configs[name] = {**entry, "digest": _entry_digest(entry)}
  return ocp.args.Composite(generators=ocp.args.StandardSave(generators),
                            configs=ocp.args.JsonSave(configs))


def _join(thread: threading.Thread, timeout: float):
  """Waits up to ``timeout`` s for ``thread`` to end, also one that threading.enumerate()
  lists between its start() and its running, which Thread.join refuses. (Thread's own
  join: Orbax's raises the errors of its writes.)"""
  deadline = time.monotonic() + timeout
  while True:
    try:
      threading.Thread.join(thread, timeout=max(0.0, deadline - time.monotonic()))
      return
    except RuntimeError:  # "cannot join thread before it is started"
      if time.monotonic() >= deadline:
        return
      time.sleep(0.01)


def write_export(path, levels: list[FrozenLevel], step: int | None = None,
                 overwrite: bool = False):
  """One Orbax checkpoint of every level's generator, statistics and config."""
  path = absolute(path)
  if path.exists() and not overwrite:
    raise ChainError(f"{path} already exists; export to a new directory")
  before = set(threading.enumerate())
  try:
    _checkpointer().save(path, export_args(levels, step), force=overwrite)
  except Exception as e:  # pylint: disable=broad-except
    if not files.is_io_error(e):
      raise
    for thread in set(threading.enumerate()) - before:  # Orbax's other writes, failing too
      _join(thread, timeout=60)
    if jax.process_index() == 0:  # Orbax writes a temporary directory, renamed when whole
      for partial in path.parent.glob(f"{path.name}.orbax-checkpoint-tmp*"):
        partial.rmtree(missing_ok=True)
    raise files.WriteError(
        f"{path} could not be written: {files.io_reason(e)}. Nothing partial was left: free "
        "space or fix the storage (or choose another place), then run the command again"
    ) from None
