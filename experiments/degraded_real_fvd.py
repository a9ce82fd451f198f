r"""What FVD a generator that made real clips, only degraded, would get: real clips (evaluation
seed 1) made blurry, or as coarse as level 1's view, or less varied, scored against real
clips (seed 0) with a chain config's final evaluation settings, the Fréchet distance split
into its mean and covariance terms (as experiments/untrained_fvd.py). It says which of a
trained chain's shortfalls its FVD measures.

  python experiments/degraded_real_fvd.py --chain_config=configs/video_folder.py \
      --data=~/hvg_data_classes:3 [--trained=workdirs/my_videos]

--trained: a trained 2-level chain on the same data, its FVD split into its levels' parts:
its level 2 on the real clips' level-1 view (level 2 alone, given a perfect level 1), its
level 1's samples brought to 32 px and 16 frames without level 2 (level 1 alone), and the
whole chain, all with the same noise and labels. --output=<png>: for 8 real clips, frames 4
and 12 as rows of (real, level-1 view brought back, the trained level 2 on that view).
"""

import argparse
import pathlib
import sys
import types

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image
from scipy import ndimage

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import hierarchy  # pylint: disable=wrong-import-position
import untrained_fvd  # pylint: disable=wrong-import-position
from hvg_jax import config_lib, runtime, video_io, video_ops  # pylint: disable=wrong-import-position
from hvg_jax import level as level_lib  # pylint: disable=wrong-import-position
from hvg_jax.chain import generate as gen  # pylint: disable=wrong-import-position
from hvg_jax.chain import levels as chain_levels  # pylint: disable=wrong-import-position
from hvg_jax.chain.sampler import ChainSampler, level_lengths  # pylint: disable=wrong-import-position
from hvg_jax.eval import evaluation, real_data  # pylint: disable=wrong-import-position


def low_view(clips: np.ndarray, top) -> np.ndarray:
  """The clips as level 1 sees them (every second frame, half the size), in [-1, 1]."""
  shapes = config_lib.level_shapes(top)
  video = jnp.asarray(clips, jnp.float32) / 127.5 - 1.0
  return np.asarray(video_ops.downsample_video(video, shapes.time_factor,
                                               shapes.input_resolution))


def brought_back(low: np.ndarray, top) -> np.ndarray:
  """A level-1 view ([-1, 1]) brought to the top level's frames and size (frames repeated,
  bilinear): what an upsampler that adds nothing would make, as uint8."""
  shapes = config_lib.level_shapes(top)
  low = video_ops.repeat_frames(jnp.asarray(low), shapes.time_factor)
  shape = low.shape[:2] + (shapes.resolution, shapes.resolution, 3)
  return video_io.to_uint8(np.asarray(jax.image.resize(low, shape, "bilinear")))


def level1_view(clips: np.ndarray, top) -> np.ndarray:
  """The clips as level 1 sees them, brought back: a perfect level 1 under an upsampler that
  adds nothing."""
  return brought_back(low_view(clips, top), top)


def load_trained(workdir: str):
  """A trained 2-level chain's levels, or one line saying why not."""
  try:
    levels = chain_levels.load(workdir)
  except level_lib.ChainError as e:
    raise SystemExit(f"--trained: {e}") from None
  if len(levels) != 2:
    raise SystemExit(f"--trained={workdir}: a chain of {len(levels)} levels; this splits 2")
  return levels


def trained_parts(levels, clips: np.ndarray, labels: np.ndarray, batch: int, top):
  """{name: uint8 videos} of a trained 2-level chain's parts (see the module's doc)."""
  sampler = ChainSampler(levels, mesh=runtime.make_mesh(), progress=False)
  s = levels[-1].config.sample
  stats = sampler.standing_statistics(level_lengths(levels, clips.shape[1]),
                                      passes=s.standing_passes, batch=s.standing_batch,
                                      key=jax.random.key(1))
  parts = {"its level 2 on the real clips' level-1 view": [],
           "its level 1, brought back without level 2": [], "the whole chain": []}
  for i in range(0, len(clips), batch):
    zs = gen.noise(jax.random.fold_in(jax.random.key(0), i), levels, len(clips[i:i + batch]))
    y = labels[i:i + batch] if levels[0].shapes.num_classes else None
    low, high = sampler.videos(stats, zs, y)
    real_low = low_view(clips[i:i + batch], top)
    parts["its level 2 on the real clips' level-1 view"].append(
        video_io.to_uint8(sampler.upsample(1, stats[1], zs[1], real_low, y)))
    parts["its level 1, brought back without level 2"].append(brought_back(low, top))
    parts["the whole chain"].append(video_io.to_uint8(high))
  return {k: np.concatenate(v) for k, v in parts.items()}


def blurred(clips: np.ndarray, sigma: float) -> np.ndarray:
  out = ndimage.gaussian_filter(clips.astype(np.float32), (0, 0, sigma, sigma, 0))
  return np.clip(np.round(out), 0, 255).astype(np.uint8)


def picture(path: str, videos: list[np.ndarray], rows: int = 8, frames=(4, 12)):
  """Rows of ``rows`` clips: for each frame in ``frames``, that frame of each of ``videos``
  side by side; 3x nearest-upscaled."""
  image = np.concatenate([np.concatenate([v[i, f] for f in frames for v in videos], 1)
                          for i in range(rows)], 0)
  pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
  Image.fromarray(image).resize((image.shape[1] * 3, image.shape[0] * 3),
                                Image.NEAREST).save(path)
  print("Wrote", path, flush=True)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--chain_config", required=True)
  parser.add_argument("--data", required=True, help="dir:num_classes")
  parser.add_argument("--trained", default="", help="a trained chain's workdir (2 levels)")
  parser.add_argument("--trained_only", action="store_true",
                      help="score only the real clips and --trained's parts")
  parser.add_argument("--output", default="", help="with --trained: a PNG of level 2 on "
                      "real clips' level-1 view")
  args = parser.parse_args()
  if (args.trained_only or args.output) and not args.trained:
    parser.error("--trained_only and --output need --trained=<a trained chain's workdir>")
  levels = load_trained(args.trained) if args.trained else None  # before the long work
  data_dir, _, classes = args.data.rpartition(":")
  chain = config_lib.load_config(args.chain_config)
  chain.data.update(dir=str(pathlib.Path(data_dir).expanduser()), num_classes=int(classes))
  top = config_lib.chain_levels(chain)[-1]
  s = evaluation.fit_to_data(hierarchy.eval_settings(chain, types.SimpleNamespace(config=top),
                                                     metrics="fvd"), top)
  ev = evaluation.Evaluator(s, mesh=runtime.make_mesh(), progress=False)
  real = ev.real(top)["i3d"]["logits"]
  batches = list(real_data.clips(top, split=s.split, num=s.num_clips, frames=s.clip_frames,
                                 seed=1, batch=s.batch))
  clips = np.concatenate([c for c, _ in batches])
  labels = np.concatenate([y for _, y in batches])
  n = len(clips)
  view = level1_view(clips, top)
  variants = {
      "real clips (seed 1), as they are": clips,
      "level 1's view, brought back to 32 px and 16 frames": view,
      "blurred, sigma 0.5 px": blurred(clips, 0.5),
      "blurred, sigma 1 px": blurred(clips, 1.0),
      "their first frame held (no motion)": np.repeat(clips[:, :1], clips.shape[1], axis=1),
      "12 of them, each 4 times (a quarter of the variety)": np.resize(clips[:12], clips.shape),
      "3 of them, each 16 times": np.resize(clips[:3], clips.shape),
  }
  if args.trained_only:
    variants = {k: v for k, v in variants.items() if k.startswith(("real", "level 1's"))}
  if args.trained:
    parts = trained_parts(levels, clips, labels, s.batch, top)
    variants.update({f"{args.trained}: {k}": v for k, v in parts.items()})
    if args.output:
      picture(args.output, [clips, view, parts["its level 2 on the real clips' level-1 view"]])
  print(f"{n} clips of {clips.shape[1]} frames at {clips.shape[2]} px against {len(real)} "
        f"real clips (seed 0):", flush=True)
  for name, videos in variants.items():
    logits = ev.embedder(videos)["logits"]
    print(f"  {name}: {untrained_fvd.terms(logits, real)}", flush=True)


if __name__ == "__main__":
  main()
