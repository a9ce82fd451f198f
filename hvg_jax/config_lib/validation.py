"""Config validation: every check raises ConfigError naming the field and the fix."""

from collections.abc import Mapping

import ml_collections

from hvg_jax import resolution as res_lib
from hvg_jax.config_lib import shapes as shapes_lib
from hvg_jax.errors import UserError


DTYPES = ("float32", "bfloat16")
D_AUGMENTATIONS = ("color", "translation", "cutout")  # config.train.d_augment's names


class ConfigError(UserError, ValueError):
  """A config that cannot describe a level; the message names the field and the fix."""


def check(ok: bool, message: str):
  """Raises ConfigError(message) unless ``ok``."""
  if not ok:
    raise ConfigError(message)


def _check_resolution(field: str, value):
  try:
    res_lib.doublings(int(value))
  except ValueError:
    raise ConfigError(f"{field}: {value} px is not 4 * 2^k (8, 16, 32, 64, 128, 256, ...); "
                      "the networks grow from and shrink to 4x4 by factors of 2") from None


def _check_temporal_halving(c, name: str, frames: int, resolution: int):
  """With d.temporal_downsample, each downsampling 3D block halves the frames."""
  if not c.model.d.temporal_downsample:
    return
  downs = res_lib.discriminator_downsampling(len(c.model.d.mults), resolution)
  halvings = sum(downs[:c.model.d.temporal_3d_blocks])
  check(frames % 2**halvings == 0,
         f"config.model.d.temporal_downsample: {name} would halve its {frames} frames "
         f"{halvings} times; that needs a multiple of {2**halvings} frames")


# Every registered evaluation metric's settings (name -> config_lib.evaluation
# .MetricSettings, in the order of their values): the registry hvg_jax.eval.metrics fills,
# so that a config's eval section is checked against the metrics there are while
# config_lib imports none of them.
REGISTERED: dict = {}

# Configs validated in this process, by content, with their shapes: each config's fields
# are checked once however many modules ask for its shapes (a training start asks often).
_VALIDATED: dict[str, shapes_lib.LevelShapes] = {}


def level_shapes(c: ml_collections.ConfigDict) -> shapes_lib.LevelShapes:
  """The shapes of a config, validated first (ConfigError naming the field otherwise);
  validated once per process for each distinct config."""
  key = f"{c.to_json()} {','.join(REGISTERED)}"
  if key not in _VALIDATED:
    _validate(c)
    _VALIDATED[key] = shapes_lib.compute(c)
  return _VALIDATED[key]


def validate(c: ml_collections.ConfigDict):
  """Raises ConfigError naming the first field that cannot describe a level (once per
  process for each distinct config: :func:`level_shapes`)."""
  level_shapes(c)


def _validate(c: ml_collections.ConfigDict):
  """Raises ConfigError naming the first field that cannot describe a level.

  An upsampling level may keep the frame rate or the resolution of the level below (a
  factor of 1): the papers always double the frame rate, but nothing here depends on it.
  """
  check(isinstance(c.level, int) and c.level >= 1,
         f"config.level: must be 1 (noise -> video) or more (upsampling), got {c.level!r}")
  d = c.data
  check(d.frames >= 1, f"config.data.frames: must be at least 1, got {d.frames}")
  check(d.subsample >= 1, f"config.data.subsample: must be at least 1, got {d.subsample}")
  check(d.num_classes >= 0, f"config.data.num_classes: must be >= 0, got {d.num_classes}")
  _check_resolution("config.data.resolution", d.resolution)
  check(d.resolution >= 8, f"config.data.resolution: at least 8 px (D_T judges the video "
         f"2x2-pooled), got {d.resolution}")
  raw = d.get("raw_resolution", 0)  # configs saved before it existed: 0
  if raw:
    check(raw >= d.resolution and raw % d.resolution == 0
           and (raw // d.resolution).bit_count() == 1,
           f"config.data.raw_resolution: the raw frames ({raw} px) must be "
           f"config.data.resolution ({d.resolution} px) times a power of 2, or 0")
  m = c.model
  check(m.dtype in DTYPES, f"config.model.dtype: one of {DTYPES}, got {m.dtype!r}")
  upsampling = c.level > 1

  n_units = res_lib.generator_units(d.resolution, upsampling)
  kind = "an upsampling generator has one unit per doubling" if upsampling else (
      "a level-1 generator has one unit per doubling plus one that keeps the resolution")
  check(len(m.g.mults) == n_units,
         f"config.model.g.mults: {kind}, so {d.resolution} px from 4x4 needs {n_units} "
         f"entries; got {len(m.g.mults)}: {tuple(m.g.mults)}")
  check(m.g.ch >= 1, f"config.model.g.ch: must be >= 1, got {m.g.ch}")
  check(min(m.g.mults) >= 1, f"config.model.g.mults: must all be >= 1, got {m.g.mults}")
  check(m.g.scan_unroll >= 1,
         f"config.model.g.scan_unroll: must be >= 1, got {m.g.scan_unroll}")
  check(upsampling or not m.g.input_skip,
         "config.model.g.input_skip: level 1 has no input to add to its output; set it "
         "False")
  if not upsampling:
    check(m.g.keep_unit in ("first", "last"),
           f"config.model.g.keep_unit: 'first' or 'last', got {m.g.keep_unit!r}")
  n_blocks = res_lib.discriminator_min_blocks(d.resolution)
  check(n_blocks <= len(m.d.mults) <= n_blocks + 1,
         f"config.model.d.mults: the spatial discriminator takes {d.resolution} px down to "
         f"4x4 in {n_blocks} blocks, or {n_blocks + 1} with one more at 4x4 (the papers' "
         f"32 px ones); got {len(m.d.mults)}: {tuple(m.d.mults)}")
  check(m.d.ch >= 1, f"config.model.d.ch: must be >= 1, got {m.d.ch}")
  check(min(m.d.mults) >= 1, f"config.model.d.mults: must all be >= 1, got {m.d.mults}")
  check(0 <= m.d.temporal_3d_blocks <= len(m.d.mults),
         f"config.model.d.temporal_3d_blocks: between 0 and len(config.model.d.mults)="
         f"{len(m.d.mults)}, got {m.d.temporal_3d_blocks}")
  check(m.d.spatial_frames >= 1,
         f"config.model.d.spatial_frames: must be >= 1, got {m.d.spatial_frames}")

  if not upsampling:
    check("input" not in m,
           "config.model.input: level 1 generates from noise and has no input video; "
           "remove it or set config.level > 1")
    check(m.window is None, "config.model.window: only upsampling levels train on windows")
    check(not m.matching, "config.model.matching: level 1 has no input to match; set False")
  else:
    check("input" in m, f"config.model.input: level {c.level} upsamples the video of the "
           "level below; describe it as config.model.input (frames, resolution, subsample)")
    i = m.input
    _check_resolution("config.model.input.resolution", i.resolution)
    check(i.resolution <= d.resolution and d.resolution % i.resolution == 0,
           f"config.model.input.resolution: the level below ({i.resolution} px) must divide "
           f"this level's config.data.resolution ({d.resolution} px)")
    check(i.subsample % d.subsample == 0 and i.subsample >= d.subsample,
           f"config.model.input.subsample: the level below keeps every {i.subsample}-th raw "
           f"frame, this level every {d.subsample}-th (config.data.subsample); the level "
           "below's stride must be a multiple of this level's")
    factor = i.subsample // d.subsample
    check(d.frames == i.frames * factor,
           f"config.data.frames: {i.frames} frames from the level below "
           f"(config.model.input.frames) at {factor}x the frame rate make "
           f"{i.frames * factor} frames, not {d.frames}")
    if m.window is not None:
      check(1 <= m.window <= i.frames,
             f"config.model.window: a window of {m.window} input frames does not fit the "
             f"{i.frames}-frame video of the level below (config.model.input.frames)")
  shapes = shapes_lib.compute(c)
  _check_temporal_halving(c, "D_T", shapes.train_frames, d.resolution // 2)
  if upsampling and m.matching:
    r_m = i.resolution // 2 if m.matching_pool else i.resolution
    _check_resolution("config.model.input.resolution (matching discriminator input)", r_m)
    _check_temporal_halving(c, "D_M", shapes.input_train_frames, r_m)

  t = c.train
  check(t.batch_size >= 1, f"config.train.batch_size: must be >= 1, got {t.batch_size}")
  check(t.d_steps >= 1, f"config.train.d_steps: must be >= 1, got {t.d_steps}")
  check(0.0 <= t.real_inputs <= 1.0 and (upsampling or not t.real_inputs),
         f"config.train.real_inputs: a probability in [0, 1] for an upsampling level (0 at "
         f"level 1, which has no input), got {t.real_inputs}")
  check(t.g_lr > 0, f"config.train.g_lr: must be > 0, got {t.g_lr}")
  unknown = [p for p in t.d_augment.split(",") if p.strip() and p.strip() not in D_AUGMENTATIONS]
  check(not unknown, f"config.train.d_augment: {', '.join(unknown)} is not one of "
        f"{', '.join(D_AUGMENTATIONS)} (comma-separated; \"\" for none)")
  check(t.d_lr > 0, f"config.train.d_lr: must be > 0, got {t.d_lr}")
  for field in ("g_betas", "d_betas"):
    check(len(t[field]) == 2 and all(0.0 <= b < 1.0 for b in t[field]),
           f"config.train.{field}: Adam's (b1, b2), each in [0, 1), got {t[field]}")
  for field in ("num_steps", "log_every", "checkpoint_every", "keep_checkpoints",
                "sample_every", "num_samples"):
    check(t[field] >= 1, f"config.train.{field}: must be >= 1, got {t[field]}")
  check(c.sample.standing_passes >= 1 and c.sample.standing_batch >= 1,
         "config.sample.standing_passes and standing_batch: must be >= 1, got "
         f"{c.sample.standing_passes} and {c.sample.standing_batch}")
  check(c.sample.standing_window >= 0 and c.sample.chunk_memory_mb >= 0,
        "config.sample.standing_window and chunk_memory_mb: must be >= 0 (0: whole-length "
        f"passes, an automatic budget), got {c.sample.standing_window} and "
        f"{c.sample.chunk_memory_mb}")
  if not upsampling:
    check(not c.lower_levels, "config.lower_levels: level 1 has no levels below it; "
           f"leave it empty, got {c.lower_levels!r}")
  if t.ema_decay is not None:
    check(0.0 < t.ema_decay < 1.0,
           f"config.train.ema_decay: in (0, 1) or None, got {t.ema_decay}")
  # The fields of every evaluation, and each chosen metric's once the metrics are
  # registered (every command that trains or evaluates imports them).
  validate_eval(c.eval, c.level, REGISTERED or None)


def parse_metrics(names, registry: Mapping | None = None) -> list[str]:
  """config.eval.metrics (comma-separated, or a sequence of names) as a list, checked
  against ``registry`` when given."""
  if not isinstance(names, str):
    names = ",".join(names)
  parsed = [m.strip() for m in names.split(",") if m.strip()]
  known = ",".join(registry) if registry is not None else "the registered metrics"
  check(parsed and (registry is None or all(m in registry for m in parsed)),
        f"config.eval.metrics: a comma-separated subset of {known}, got "
        f"{names!r}")
  return parsed


def validate_eval(e, level: int, registry: Mapping | None = None):
  """Raises ConfigError naming the first config.eval field that cannot work: the fields
  of every evaluation, then (given the ``registry``, name -> config_lib.evaluation
  .MetricSettings) each chosen metric's."""
  names = parse_metrics(e.metrics, registry)
  check(e.every_steps >= 0, f"config.eval.every_steps: >= 0 (0: off), got {e.every_steps}")
  if e.every_steps:
    ranking = [n for n in names if registry is None or registry[n].best_mode]
    check(e.best_metric in ranking,
          f"config.eval.best_metric: one of config.eval.metrics that ranks generators "
          f"({', '.join(ranking)}), got {e.best_metric!r}")
  for name in names if registry is not None else ():
    registry[name].check(e, level)
  check(e.batch >= 1, f"config.eval.batch: must be >= 1, got {e.batch}")
  check(e.standing_passes >= 0, f"config.eval.standing_passes: >= 0, got "
        f"{e.standing_passes}")


def check_chain(lower: ml_collections.ConfigDict, upper: ml_collections.ConfigDict):
  """Raises ConfigError unless ``upper`` upsamples exactly the videos ``lower`` makes."""
  validate(lower)
  validate(upper)
  check(upper.level == lower.level + 1,
         f"config.level: level {upper.level} cannot sit on a level-{lower.level} config "
         f"({lower.name}); the level below must be level {upper.level - 1}")
  for field in ("frames", "resolution", "subsample"):
    got, want = upper.model.input[field], lower.data[field]
    check(got == want,
           f"config.model.input.{field}: {upper.name} expects {got} from the level below, "
           f"but {lower.name} makes videos with data.{field}={want}")
  if lower.data.name == "demo":
    raw = [c.data.get("raw_resolution", 0) or c.data.resolution for c in (lower, upper)]
    check(raw[0] == raw[1],
           f"config.data.raw_resolution: {lower.name} views demo frames rendered at {raw[0]} "
           f"px, {upper.name} at {raw[1]} px; set both to {max(raw)} (the chain's top "
           "resolution), so that every level's real view is f_s of the same frames")
  for field in ("name", "num_classes"):
    check(upper.data[field] == lower.data[field],
           f"config.data.{field}: {upper.name} has {upper.data[field]!r}, the level below "
           f"({lower.name}) {lower.data[field]!r}; a chain trains on one data set")
