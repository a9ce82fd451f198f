r"""What FVD a generator that made real clips, only degraded, would get: real clips (evaluation
seed 1) made blurry, or as coarse as level 1's view, or less varied, scored against real
clips (seed 0) with a chain config's final evaluation settings, the Fréchet distance split
into its mean and covariance terms (as experiments/untrained_fvd.py). It says which of a
trained chain's shortfalls its FVD measures.

  python experiments/degraded_real_fvd.py --chain_config=configs/video_folder.py \
      --data=~/hvg_data_classes:3
"""

import argparse
import pathlib
import sys
import types

import jax
import jax.numpy as jnp
import numpy as np
from scipy import ndimage

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import hierarchy  # pylint: disable=wrong-import-position
import untrained_fvd  # pylint: disable=wrong-import-position
from hvg_jax import config_lib, runtime, video_io, video_ops  # pylint: disable=wrong-import-position
from hvg_jax.eval import evaluation, real_data  # pylint: disable=wrong-import-position


def level1_view(clips: np.ndarray, top) -> np.ndarray:
  """The clips as level 1 sees them (every second frame, half the size), brought back to the
  top level's frames and size (frames repeated, bilinear): a perfect level 1 under an
  upsampler that adds nothing."""
  shapes = config_lib.level_shapes(top)
  video = jnp.asarray(clips, jnp.float32) / 127.5 - 1.0
  low = video_ops.downsample_video(video, shapes.time_factor, shapes.input_resolution)
  low = video_ops.repeat_frames(low, shapes.time_factor)
  up = jax.image.resize(low, video.shape, "bilinear")
  return video_io.to_uint8(np.asarray(up))


def blurred(clips: np.ndarray, sigma: float) -> np.ndarray:
  out = ndimage.gaussian_filter(clips.astype(np.float32), (0, 0, sigma, sigma, 0))
  return np.clip(np.round(out), 0, 255).astype(np.uint8)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--chain_config", required=True)
  parser.add_argument("--data", required=True, help="dir:num_classes")
  args = parser.parse_args()
  data_dir, _, classes = args.data.rpartition(":")
  chain = config_lib.load_config(args.chain_config)
  chain.data.update(dir=str(pathlib.Path(data_dir).expanduser()), num_classes=int(classes))
  top = config_lib.chain_levels(chain)[-1]
  s = evaluation.fit_to_data(hierarchy.eval_settings(chain, types.SimpleNamespace(config=top),
                                                     metrics="fvd"), top)
  ev = evaluation.Evaluator(s, mesh=runtime.make_mesh(), progress=False)
  real = ev.real(top)["i3d"]["logits"]
  clips = np.concatenate([c for c, _ in real_data.clips(
      top, split=s.split, num=s.num_clips, frames=s.clip_frames, seed=1, batch=s.batch)])
  n = len(clips)
  variants = {
      "real clips (seed 1), as they are": clips,
      "level 1's view, brought back to 32 px and 16 frames": level1_view(clips, top),
      "blurred, sigma 0.5 px": blurred(clips, 0.5),
      "blurred, sigma 1 px": blurred(clips, 1.0),
      "their first frame held (no motion)": np.repeat(clips[:, :1], clips.shape[1], axis=1),
      "12 of them, each 4 times (a quarter of the variety)": np.resize(clips[:12], clips.shape),
      "3 of them, each 16 times": np.resize(clips[:3], clips.shape),
  }
  print(f"{n} clips of {clips.shape[1]} frames at {clips.shape[2]} px against {len(real)} "
        f"real clips (seed 0):", flush=True)
  for name, videos in variants.items():
    logits = ev.embedder(videos)["logits"]
    print(f"  {name}: {untrained_fvd.terms(logits, real)}", flush=True)


if __name__ == "__main__":
  main()
