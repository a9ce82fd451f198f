"""The hinge losses of a training iteration (HVG A; SPEC 4): the scores of D_S, D_T and
(upsampling levels) D_M concatenated, averaged over samples and output locations:
  L_D = E[relu(1 - D(x))] + E[relu(1 + D(G(z)))],   L_G = -E[D(G(z))].
"""

import jax
import jax.numpy as jnp


def to_float(video):
  """uint8 [0, 255] -> float32 [-1, 1]."""
  return video.astype(jnp.float32) / 127.5 - 1.0


def hinge_losses(scores: dict, batch: int):
  """D's hinge loss on scores of [real; fake] and its per-discriminator parts (float32,
  whatever the compute dtype)."""
  scores = {k: s.astype(jnp.float32) for k, s in scores.items()}
  real = jnp.concatenate([s[:batch].reshape(batch, -1) for s in scores.values()], axis=1)
  fake = jnp.concatenate([s[batch:].reshape(batch, -1) for s in scores.values()], axis=1)
  loss = jnp.mean(jax.nn.relu(1.0 - real)) + jnp.mean(jax.nn.relu(1.0 + fake))
  parts = {}
  for name, s in scores.items():
    parts[f"d_real/{name}"] = jnp.mean(jax.nn.relu(1.0 - s[:batch]))
    parts[f"d_fake/{name}"] = jnp.mean(jax.nn.relu(1.0 + s[batch:]))
  return loss, parts


def generator_loss(scores: dict):
  all_scores = jnp.concatenate([s.reshape(s.shape[0], -1).astype(jnp.float32)
                                for s in scores.values()], axis=1)
  return -jnp.mean(all_scores)
