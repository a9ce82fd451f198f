"""Discriminator output with projection class conditioning (Miyato & Koyama 2018).

score = w . h + b + <e(y), h>, with h the ReLU'd features summed over height and width:
one score per frame (the papers average the loss over samples and output locations).
"""

import jax
import jax.numpy as jnp
from flax import nnx

from hvg_jax.layers.spectral import SNDense, SNEmbed


class ProjectionHead(nnx.Module):
  """(B, T, H, W, C) features, (B,) labels -> (B, T) scores."""

  def __init__(self, features: int, *, num_classes: int = 0, dtype=jnp.float32,
               rngs: nnx.Rngs):
    self.linear = SNDense(features, 1, dtype=dtype, rngs=rngs)
    self.embed = SNEmbed(num_classes, features, dtype=dtype, rngs=rngs) if num_classes else None

  def __call__(self, x, labels=None):
    h = jnp.sum(jax.nn.relu(x), axis=(2, 3)).astype(jnp.float32)  # (B, T, C)
    score = self.linear(h)[..., 0].astype(jnp.float32)
    if self.embed is not None:
      if labels is None:
        raise ValueError("a class-conditional discriminator needs labels")
      score = score + jnp.sum(self.embed(labels).astype(jnp.float32)[:, None] * h, axis=-1)
    return score
