r"""I3D embedding throughput: clips per second through the FVD protocol (uint8 clips ->
TF1 resize to 224x224 -> the Kinetics-400 I3D), float32, batches over every local device.

  python benchmarks/i3d_throughput.py [--frames=16] [--size=64] [--batch_per_device=4] \
      [--batches=3] [--output=/tmp/i3d.json]

Prints the compile time (the first call) and the median time of --batches further calls.
"""

import json
import statistics
import time

import jax
import numpy as np
from absl import app, flags

from hvg_jax import runtime
from hvg_jax.eval import embed, i3d_weights

_FRAMES = flags.DEFINE_integer("frames", 16, "Frames per clip.")
_SIZE = flags.DEFINE_integer("size", 64, "Side of the input clips (resized to 224 inside).")
_BATCH = flags.DEFINE_integer("batch_per_device", 4, "Clips per device per call.")
_BATCHES = flags.DEFINE_integer("batches", 3, "Timed calls after the first.")
_OUTPUT = flags.DEFINE_string("output", None, "JSON file for the figures.")


def main(argv):
  del argv
  mesh = runtime.make_mesh()
  batch = _BATCH.value * mesh.size
  embedder = embed.Embedder(i3d_weights.load(""), batch, mesh)
  clips = np.random.default_rng(0).integers(
      0, 256, (batch, _FRAMES.value, _SIZE.value, _SIZE.value, 3), dtype=np.uint8)
  start = time.perf_counter()
  embedder(clips)
  first = time.perf_counter() - start
  times = []
  for _ in range(_BATCHES.value):
    start = time.perf_counter()
    embedder(clips)  # returns host arrays: the time includes the device work
    times.append(time.perf_counter() - start)
  median = statistics.median(times)
  figures = {
      "device": jax.devices()[0].device_kind, "devices": mesh.size,
      "clip": f"{_FRAMES.value}x224x224 (from {_SIZE.value}x{_SIZE.value})",
      "batch": batch, "first_call_s": round(first, 2), "median_call_s": round(median, 3),
      "clips_per_s": round(batch / median, 2),
      "clips_per_s_per_device": round(batch / median / mesh.size, 2),
  }
  for k, v in figures.items():
    print(f"{k:>24}  {v}")
  if _OUTPUT.value:
    with open(_OUTPUT.value, "w", encoding="utf-8") as f:
      json.dump(figures, f, indent=2)


if __name__ == "__main__":
  app.run(main)
