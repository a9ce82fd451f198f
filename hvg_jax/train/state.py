"""Everything a level's training carries from step to step, and where it lives.

One ``GANState`` module holds G, the discriminators, their Adam states, the optional EMA of
G and the counters; ``nnx.split`` turns it into the (static graph, state pytree) pair the
jitted step and the checkpoints work with. The state is replicated over the mesh
(:mod:`hvg_jax.runtime`).
"""

import jax
import jax.numpy as jnp
import ml_collections
import optax
from flax import nnx

from hvg_jax import models, runtime


class Counter(nnx.Variable):
  """An integer the training updates itself (not a parameter or a statistic)."""


def _copy(module):
  """A copy with buffers of its own (the jitted step donates every state buffer)."""
  clone = nnx.clone(module)
  nnx.update(clone, jax.tree.map(jnp.copy, nnx.state(clone)))
  return clone


class GANState(nnx.Module):
  """G, D, their optimisers, the EMA of G (optional), the step, and the first step whose
  loss was not finite (-1 while all were)."""

  def __init__(self, config: ml_collections.ConfigDict, *, rngs: nnx.Rngs):
    t = config.train
    self.generator = models.build_generator(config, rngs=rngs)
    self.discriminators = models.build_discriminators(config, rngs=rngs)
    self.g_optimizer = nnx.Optimizer(self.generator, optax.adam(t.g_lr, *t.g_betas),
                                     wrt=nnx.Param)
    self.d_optimizer = nnx.Optimizer(self.discriminators, optax.adam(t.d_lr, *t.d_betas),
                                     wrt=nnx.Param)
    self.ema_generator = _copy(self.generator) if t.ema_decay else None
    self.step = Counter(jnp.zeros((), jnp.int32))
    self.first_nonfinite_step = Counter(jnp.full((), -1, jnp.int32))


def keys(seed: int) -> dict:
  """Independent keys for each use of randomness in a run (none collides with another)."""
  init, train, samples, standing = jax.random.split(jax.random.key(seed), 4)
  return {"init": init, "train": train, "samples": samples, "standing": standing}


def abstract_state(config, mesh):
  """(graphdef, state of ShapeDtypeStructs with shardings): no memory allocated."""
  graphdef, state = nnx.split(nnx.eval_shape(lambda: GANState(config, rngs=nnx.Rngs(0))))
  return graphdef, runtime.abstract(state, runtime.replicated(mesh))


def initial_state(config, mesh):
  """(graphdef, freshly initialised state replicated over the mesh), from config.seed."""
  graphdef, state = nnx.split(GANState(config, rngs=nnx.Rngs(keys(config.seed)["init"])))
  return graphdef, jax.device_put(state, runtime.replicated(mesh))
