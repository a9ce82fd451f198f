"""Chain configs: a level config per level, trained one after another."""

import copy

import ml_collections
from ml_collections import config_dict

from hvg_jax.config_lib.defaults import load_config, parse_arg
from hvg_jax.config_lib.validation import check, check_chain

# The data fields a chain sets for all its levels at once (config.data.<field>).
CHAIN_DATA_FIELDS = {"name": str, "dir": str, "storage": str, "num_classes": int, "flip": bool}


def chain_config(name: str, level_files, arg: str | None = None) -> ml_collections.ConfigDict:
  """A chain: the level configs (files beside the caller's), trained one after another.

  ``config.levels.level<k>`` is level k's config; ``arg`` (e.g. runlocal) goes to each.
  Raises ConfigError unless every level chains with the one below it.
  """
  c = ml_collections.ConfigDict()
  c.name = name
  # The chain command ends by evaluating what it trained: the top level's config.eval with
  # these fields on top (None: the top level's). metrics "" skips it.
  c.eval = ml_collections.ConfigDict()
  c.eval.metrics = "fvd,fid,is,grounding,colour"  # colour: cheap, the data's colours
  c.eval.num_clips = config_dict.placeholder(int)
  c.eval.clip_frames = config_dict.placeholder(int)
  c.eval.batch = config_dict.placeholder(int)
  if parse_arg(arg, runlocal=False)["runlocal"]:
    c.eval.update(num_clips=4, clip_frames=9)  # I3D's smallest clips: seconds on a CPU
  # One data set for every level (e.g. --config.data.name=video_folder
  # --config.data.dir=...); None: each level's own. A level's field set on the command
  # line (--config.levels.level2.data.dir=...) still wins over these.
  c.data = ml_collections.ConfigDict(
      {field: config_dict.placeholder(kind) for field, kind in CHAIN_DATA_FIELDS.items()})
  c.levels = ml_collections.ConfigDict()
  # What each level file itself set for those fields: a level's field that differs from it
  # was set on the command line.
  c.level_file_data = ml_collections.ConfigDict()
  for k, path in enumerate(level_files, start=1):
    level = load_config(path, arg)
    check(level.level == k, f"{path}: a chain's level {k} must be a level-{k} config, "
           f"got config.level={level.level}")
    c.levels[f"level{k}"] = level
    c.level_file_data[f"level{k}"] = {f: level.data[f] for f in CHAIN_DATA_FIELDS}
  check_levels(chain_levels(c))
  return c


def is_chain(config: ml_collections.ConfigDict) -> bool:
  return "levels" in config


def chain_levels(chain: ml_collections.ConfigDict) -> list[ml_collections.ConfigDict]:
  """The level configs of a chain config as they train, level 1 first (copies): the
  chain's ``data`` fields that are set go to every level (unless the level's own was set
  on the command line), and each upsampling level's ``model.input`` is filled from the
  level below's data (its frames, resolution and subsample), so a change to one level
  (e.g. a command-line override) reaches the next."""
  names = sorted(chain.levels.keys(), key=lambda n: int(n.removeprefix("level")))
  configs = [copy.deepcopy(chain.levels[n]) for n in names]
  for name, config in zip(names, configs):
    in_file = chain.get("level_file_data", {}).get(name, {})
    for field, value in chain.get("data", {}).items():
      if value is not None and config.data[field] == in_file.get(field, config.data[field]):
        config.data[field] = value
  for lower, upper in zip(configs, configs[1:]):
    if "input" in upper.model:
      upper.model.input.update({k: lower.data[k] for k in ("frames", "resolution", "subsample")})
  return configs


def check_levels(configs):
  """Raises ConfigError unless ``configs`` are levels 1, 2, ... each upsampling the one
  below."""
  check(bool(configs) and configs[0].level == 1,
         f"a chain starts at level 1; got {[c.level for c in configs]}")
  for lower, upper in zip(configs, configs[1:]):
    check_chain(lower, upper)
