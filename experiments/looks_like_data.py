r"""Do a chain's samples look like its real clips? Colour figures per level, and a picture.

  python experiments/looks_like_data.py --chain=workdirs/my_videos \
      --output=results/video_folder/chain.png [--num=48]

For every level of the chain (its levels' workdirs, a chain workdir or an export): ``num``
sampled videos against ``num`` real clips of that level's view (the levels' own data
settings), with the colour metric's figures (hvg_jax.eval.metrics.colour: the per-channel
32-bin histogram TV distance, the share of saturated values) and the mean colour; then a
PNG: for each level, 8 videos as rows of 4 frames, generated (left) beside real (right).
RESULTS.md, "Real clips on a CPU", was measured with it.
"""

import argparse
import pathlib
import sys

import numpy as np
from PIL import Image

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from hvg_jax import video_io  # pylint: disable=wrong-import-position
from hvg_jax.chain import levels as chain_levels  # pylint: disable=wrong-import-position
from hvg_jax.chain.sampler import sample_chain  # pylint: disable=wrong-import-position
from hvg_jax.eval import real_data  # pylint: disable=wrong-import-position
from hvg_jax.eval.metrics import colour  # pylint: disable=wrong-import-position


def strip(videos: np.ndarray, rows: int = 8, frames: int = 4) -> np.ndarray:
  """``rows`` videos as rows of ``frames`` evenly spaced frames."""
  step = max(1, videos.shape[1] // frames)
  return np.concatenate([np.concatenate(list(v[::step][:frames]), axis=1)
                         for v in videos[:rows]], axis=0)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--chain", required=True)
  parser.add_argument("--output", required=True, help="the PNG to write")
  parser.add_argument("--num", type=int, default=48, help="videos and real clips per level")
  parser.add_argument("--seed", type=int, default=1)
  args = parser.parse_args()
  levels = chain_levels.load(args.chain)
  videos = sample_chain(levels, num_videos=args.num, seed=args.seed, progress=False)
  pictures = []
  for level, video in zip(levels, videos):
    generated = video_io.to_uint8(video)
    c = level.config
    real = np.concatenate([b for b, _ in real_data.clips(
        c, split="train", num=args.num, frames=c.data.frames, seed=0, batch=args.num)])
    m = colour.compare(colour.total(colour.counts(generated)),
                       colour.total(colour.counts(real)))
    print(f"level {c.level}: histogram TV {m['colour/histogram_tv']:.4f}; saturated "
          f"{m['colour/saturated_generated']:.2%} (real {m['colour/saturated_real']:.2%}, "
          f"ratio {m['colour/saturated_ratio']:.2f}); mean colour "
          f"{generated.reshape(-1, 3).mean(0).round(1)} (real "
          f"{real.reshape(-1, 3).mean(0).round(1)})")
    picture = strip(generated)
    gap = np.full((picture.shape[0], 4, 3), 255, np.uint8)
    pictures.append(np.concatenate([picture, gap, strip(real)], axis=1))
  top = max(lv.config.data.resolution for lv in levels)  # lower levels drawn larger
  scaled = [np.kron(p, np.ones((top // lv.config.data.resolution,) * 2 + (1,), np.uint8))
            for p, lv in zip(pictures, levels)]
  width = max(p.shape[1] for p in scaled)
  scaled = [np.pad(p, ((0, 0), (0, width - p.shape[1]), (0, 0)), constant_values=255)
            for p in scaled]
  gap = np.full((4, width, 3), 255, np.uint8)
  image = np.concatenate([x for p in scaled for x in (p, gap)][:-1], axis=0)
  pathlib.Path(args.output).parent.mkdir(parents=True, exist_ok=True)
  Image.fromarray(image).resize((image.shape[1] * 2, image.shape[0] * 2),
                                Image.NEAREST).save(args.output)
  print("Wrote", args.output)


if __name__ == "__main__":
  main()
