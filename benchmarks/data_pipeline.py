r"""Host throughput of the input pipeline: decoded and augmented clips per second.

  python benchmarks/data_pipeline.py [--videos=16] [--threads=N]

Makes synthetic videos (640x360, 30 fps, 4 s) with the ffmpeg that imageio-ffmpeg ships,
prepares them with hvg_jax.prepare_data at 64, 128 and 256 px (clips of 48 frames), then
times the training pipeline (read the clip's JPEG frames, random run of 12 frames at
stride 2, random square crop, resize) at each size: how many clips per second the host
feeds the accelerators. Also prints prepare_data's decoding rate.
"""

import argparse
import os
import tempfile
import time
import warnings

import imageio_ffmpeg
import numpy as np

from hvg_jax import config_lib
from hvg_jax.data import prepare as prepare_data
from hvg_jax.data import pipeline


def make_videos(directory, n, rng):
  os.makedirs(directory, exist_ok=True)
  t = np.arange(120)[:, None, None]
  y, x = np.mgrid[:360, :640]
  for i in range(n):
    phase = rng.uniform(0, 6.28, 3)
    frames = np.stack([127 + 120 * np.sin(x / 40 + t / 10 + phase[c]) * np.cos(y / 30 + phase[c])
                       for c in range(3)], axis=-1).astype(np.uint8)
    writer = imageio_ffmpeg.write_frames(os.path.join(directory, f"v{i}.mp4"), (640, 360),
                                         fps=30, macro_block_size=1,
                                         output_params=["-loglevel", "error"])
    with warnings.catch_warnings():
      warnings.filterwarnings("ignore")
      writer.send(None)
    for frame in frames:
      writer.send(np.ascontiguousarray(frame))
    writer.close()


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--videos", type=int, default=16)
  parser.add_argument("--threads", type=int, default=os.cpu_count())
  parser.add_argument("--batches", type=int, default=20)
  args = parser.parse_args()
  rng = np.random.default_rng(0)
  with tempfile.TemporaryDirectory() as tmp:
    make_videos(os.path.join(tmp, "videos"), args.videos, rng)
    print(f"{args.videos} videos of 120 frames at 640x360; {os.cpu_count()} CPU cores, "
          f"{args.threads} reader threads")
    # Warm up (imports, TFDS's first build) so the first size is timed like the others.
    prepare_data.prepare("video_folder", os.path.join(tmp, "videos"),
                         os.path.join(tmp, "warmup"), size=32, clip_frames=48)
    print("| size | prepare: videos/s | pipeline: clips/s | frames/s |")
    print("|---|---|---|---|")
    for size in (64, 128, 256):
      data_dir = os.path.join(tmp, f"tfds{size}")
      start = time.perf_counter()
      prepare_data.prepare("video_folder", os.path.join(tmp, "videos"), data_dir, size=size,
                           clip_frames=48)
      prepare_rate = args.videos / (time.perf_counter() - start)
      c = config_lib.base_config()
      c.name = f"bench{size}"
      c.data.update(name="video_folder", dir=data_dir, frames=12, resolution=size,
                    subsample=2, num_threads=args.threads, prefetch=4)
      c.model.g.mults = (1,) * (2 + int(np.log2(size // 8)))
      c.model.d.mults = (1,) * (int(np.log2(size // 4)) + 1)
      c.train.update(batch_size=16, d_steps=1)
      config_lib.validate(c)
      batches = pipeline.iterate(pipeline.level_dataset(c, pipeline.get_source(c)), 0,
                                 num_threads=args.threads, prefetch=4)
      next(batches)  # warm up the threads
      start = time.perf_counter()
      for _ in range(args.batches):
        next(batches)
      clips = args.batches * 16 / (time.perf_counter() - start)
      print(f"| {size} | {prepare_rate:.2f} | {clips:.1f} | {clips * 12:.0f} |", flush=True)


if __name__ == "__main__":
  main()
