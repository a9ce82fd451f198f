"""I3D embeddings of videos by the google-research FVD protocol.

uint8 frames -> TF1 resize_bilinear to 224x224 -> 2x/255 - 1 -> I3D -> the logits averaged
over time (FVD, IS) and the pooled features (FID). Generated videos in [-1, 1] are first
quantised to uint8 as a saved video would be, so generated and real clips take the same
path.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from hvg_jax import runtime
from hvg_jax.eval import resize

SIZE = 224


def preprocess(videos_uint8, size: int = SIZE):
  """(B, T, H, W, 3) uint8 -> (B, T, size, size, 3) float32 in [-1, 1]."""
  x = resize.resize_bilinear_tf1(jnp.asarray(videos_uint8, jnp.float32), size, size)
  return 2.0 * x / 255.0 - 1.0


@functools.partial(jax.jit, static_argnums=0)
def _embed(graphdef, state, videos_uint8):
  model = nnx.merge(graphdef, state)
  return model(preprocess(videos_uint8))


class Embedder:
  """Embeds batches of uint8 clips with a fixed batch size (one compiled program; the last
  batch is padded), split over the mesh's ``data`` axis when one is given."""

  def __init__(self, model, batch: int, mesh=None):
    self.graphdef, self.state = nnx.split(model)
    self.batch = batch
    self.mesh = mesh
    if mesh is not None:
      self.state = jax.device_put(self.state, runtime.replicated(mesh))

  def __call__(self, clips: np.ndarray) -> dict[str, np.ndarray]:
    """{"logits": (N, classes), "features": (N, 1024)} of (N, T, H, W, 3) uint8 clips."""
    clips = np.asarray(clips)
    if clips.dtype != np.uint8:
      raise TypeError(f"I3D takes uint8 frames (the FVD protocol), got {clips.dtype}")
    out = {"logits": [], "features": []}
    for start in range(0, len(clips), self.batch):
      part = clips[start:start + self.batch]
      n = len(part)
      if n < self.batch:
        part = np.concatenate([part, np.repeat(part[-1:], self.batch - n, axis=0)])
      result = _embed(self.graphdef, self.state, runtime.put_per_example(part, self.mesh))
      for k in out:
        out[k].append(runtime.fetch(result[k])[:n])
    return {k: np.concatenate(v).astype(np.float64) for k, v in out.items()}
