r"""Samples long videos from a trained chain (its workdirs or an export).

  python -m hvg_jax.sample --chain=workdirs/demo --output=/tmp/demo_samples
  python -m hvg_jax.sample --chain=runs/bdd_level1,runs/bdd_level2,runs/bdd_level3 \
      --frames=192 --sigma=0.5 --output=/tmp/bdd_192

Level 1 samples its video (its ConvGRU unrolled when --frames asks for more than it was
trained on), then every upsampler runs over the whole video of the level below, in chunks
that keep device memory flat however long the video. For lengths other than the stored
ones, standing BatchNorm statistics are recomputed first with --standing_passes dummy
passes. Writes each level's videos (GIF, MP4), a grid of the levels side by side, the
arrays (videos.npz) and an index.html that shows them.
"""

import jax
from absl import app, flags, logging

from hvg_jax import cli
from hvg_jax.chain.sample_files import write_samples
from hvg_jax.chain.sampler import sample_chain

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
_FPS = flags.DEFINE_float("fps", 8.0, "Frame rate of the written files.")


def main(argv):
  cli.start(argv)
  with cli.user_errors():
    mesh, levels = cli.load_chain(_CHAIN.value)
    videos = sample_chain(levels, frames=_FRAMES.value, num_videos=_NUM_VIDEOS.value,
                          sigma=_SIGMA.value, seed=_SEED.value, label=_LABEL.value,
                          passes=_PASSES.value, batch=_BATCH.value, mesh=mesh)
  settings = (f"--chain={_CHAIN.value} --frames={videos[-1].shape[1]} "
              f"--num_videos={_NUM_VIDEOS.value} --sigma={_SIGMA.value} --seed={_SEED.value}")
  if jax.process_index() == 0:
    index = write_samples(_OUTPUT.value, levels, videos, fps=_FPS.value, settings=settings)
    logging.info("Wrote %s", index)


if __name__ == "__main__":
  flags.mark_flags_as_required(["chain", "output"])
  app.run(main, flags_parser=cli.parse_flags)
