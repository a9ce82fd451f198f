r"""Samples long videos from a trained chain (its workdirs or an export).

  python -m hvg_jax.sample --chain=workdirs/demo --output=/tmp/demo_samples
  python -m hvg_jax.sample --chain=runs/bdd_level1,runs/bdd_level2,runs/bdd_level3 \
      --frames=192 --sigma=0.5 --output=/tmp/bdd_192

Level 1 makes its video in pieces (its ConvGRU unrolled as far as --frames asks, its
state carried from piece to piece), every upsampler runs over the video of the level below
in chunks, each level only as far as the level above needs, and the top level's chunks go
to the files as they come out: device and host memory stay flat however long the video.
Pieces and chunks are as long as fits --chunk_memory_mb. For lengths other than the stored
ones, standing BatchNorm statistics are recomputed first with --standing_passes dummy
passes (over the first and last --standing_window frames for upsamplers, when set) and kept
for the next sample at that length. One progress bar with its ETA covers the whole job.
Writes each level's videos (MP4, and a GIF of the first --gif_frames frames), the levels
side by side, every video as a uint8 .npy file, and an index.html that shows them.
"""

import os

import jax
from absl import app, flags, logging

from hvg_jax import cli, compilation_cache, layout
from hvg_jax.chain import levels as chain_levels
from hvg_jax.chain.plan import SamplingError
from hvg_jax.chain.sample_files import GIF_FRAMES, write_samples
from hvg_jax.chain.sampler import chunk_memory_budget, stream_chain
from hvg_jax.level import ChainError

_CHAIN = flags.DEFINE_string("chain", None, "Comma-separated level workdirs (level 1 first), "
                             "a chain workdir, or an export.")
_OUTPUT = flags.DEFINE_string("output", None, "Where the videos and index.html go.")
_FRAMES = flags.DEFINE_integer("frames", None, "Frames of the top level's videos (default: "
                               "the top level's whole training video).")
_NUM_VIDEOS = flags.DEFINE_integer("num_videos", 8, "Videos to sample.")
_SIGMA = flags.DEFINE_float("sigma", 1.0, "Noise scale σ (truncation; figures use 0.5).")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the noise (and of the dummy passes).")
_LABEL = flags.DEFINE_integer("label", None, "Class of every video (default: classes in "
                              "turn; class-conditional chains only).")
_PASSES = flags.DEFINE_integer("standing_passes", None, "Dummy passes for standing "
                               "statistics (default: the top config's sample.standing_passes).")
_BATCH = flags.DEFINE_integer("standing_batch", None, "Videos per dummy pass (default: the "
                              "top config's sample.standing_batch).")
_WINDOW = flags.DEFINE_integer(
    "standing_window", None, "Upsamplers' dummy passes make only the frames that meet the "
    "video's first and last this many frames, the frames between taking the mean of their "
    "inner ones (0: the papers' passes over the whole length; default: the top config's "
    "sample.standing_window).")
_CHUNK_MEMORY = flags.DEFINE_float(
    "chunk_memory_mb", None, "Device memory (MiB) a piece's or chunk's program may use; "
    "longer chunks run faster (default: the top config's sample.chunk_memory_mb; 0: a "
    "quarter of the accelerator's memory, 64 MiB on CPU).")
_STATS_CACHE = flags.DEFINE_string(
    "stats_cache", None, "Where recomputed standing statistics are kept and reused by the "
    "next sample at the same length and setting (default: standing_stats/ in the last path "
    "of --chain; '' computes them every time).")
_FPS = flags.DEFINE_float("fps", 8.0, "Frame rate of the written files.")
_ARRAYS = flags.DEFINE_bool("arrays", True, "Also write every video as a uint8 .npy file "
                            "(level<k>_<i>.npy; np.load(..., mmap_mode='r') reads it).")
_GIF_FRAMES = flags.DEFINE_integer("gif_frames", GIF_FRAMES, "Frames of the GIF previews "
                                   "(the MP4s have every frame).")


# The sampler's settings as this command names them (its errors are facts about a setting).
FLAGS = {"frames": "--frames", "window": "--standing_window", "label": "--label",
         "num_videos": "--num_videos", "passes": "--standing_passes",
         "batch": "--standing_batch"}


def in_flags(e: SamplingError) -> ChainError:
  """The sampler's error ``e`` as the command says it: its setting named by its flag."""
  return ChainError(e.message(FLAGS.get(e.setting)))


def _cache_dir():
  if _STATS_CACHE.value is not None:
    return _STATS_CACHE.value or None
  return layout.absolute(chain_levels.split_paths(_CHAIN.value)[-1])


def _chunk_memory():
  mib = _CHUNK_MEMORY.value
  if mib is None:
    return None
  if mib < 0:
    raise ChainError(f"--chunk_memory_mb={mib}: must be at least 0 (0: automatic)")
  return chunk_memory_budget(mib)


def main(argv):
  cli.start(argv)
  with cli.user_errors():
    if _GIF_FRAMES.value < 1:
      raise ChainError(f"--gif_frames={_GIF_FRAMES.value}: must be at least 1")
    chunk_memory = _chunk_memory()
    compilation_cache.enable(os.path.expanduser("~/.cache/hvg_jax/compilation"))
    mesh, levels = cli.load_chain(_CHAIN.value)
    try:
      lengths, chunks = stream_chain(
          levels, frames=_FRAMES.value, num_videos=_NUM_VIDEOS.value, sigma=_SIGMA.value,
          seed=_SEED.value, label=_LABEL.value, passes=_PASSES.value, batch=_BATCH.value,
          window=_WINDOW.value, mesh=mesh, progress=jax.process_index() == 0,
          cache_dir=_cache_dir(), chunk_memory=chunk_memory)
    except SamplingError as e:
      raise in_flags(e) from None
    settings = (f"--chain={_CHAIN.value} --frames={lengths[-1]} "
                f"--num_videos={_NUM_VIDEOS.value} --sigma={_SIGMA.value} "
                f"--seed={_SEED.value}")
    # Inside: a failed write (SampleWriteError) is one line.
    index = write_samples(_OUTPUT.value, levels, lengths, chunks, fps=_FPS.value,
                          settings=settings, arrays=_ARRAYS.value,
                          gif_frames=_GIF_FRAMES.value)
  if index is not None:
    logging.info("Wrote %s", index)


if __name__ == "__main__":
  flags.mark_flags_as_required(["chain", "output"])
  app.run(main, flags_parser=cli.parse_flags)
