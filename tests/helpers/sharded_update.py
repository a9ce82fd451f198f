"""One training update on 8 simulated CPU devices and on 1, from the same state and batch.

Run as a script (XLA_FLAGS must be set before JAX starts). Prints a JSON line with the
largest relative difference of the whole state after the update (parameters, optimiser
moments, spectral-norm vectors; G's BatchNorm runs inside the update, so equal parameters
need global statistics), and of the standing statistics one sharded pass of G accumulates
(BatchNorm's statistics read directly).
"""

import os

os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"

import json  # pylint: disable=g-import-not-at-top,wrong-import-position

import jax
import numpy as np
from flax import nnx

from hvg_jax import config_lib
from hvg_jax.data import pipeline
from hvg_jax.layers import SpectralVector, reset_standing_stats, standing_stats_mode
from hvg_jax.train import state as state_lib
from hvg_jax.train import step as step_lib


def one_update(config, mesh, batch):
  graphdef, state = state_lib.initial_state(config, mesh)
  step = step_lib.make_train_step(config, graphdef, mesh)
  state, _ = step(state, state_lib.put_batch(mesh, batch))
  return graphdef, jax.device_get(state)


def standing_stats(config, graphdef, state, mesh, z, labels):
  """Standing statistics of one pass of G over the (sharded) batch z."""
  g = nnx.merge(graphdef, jax.device_put(state, state_lib.replicated(mesh))).generator
  reset_standing_stats(g, config.data.frames)
  standing_stats_mode(g)
  split = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("data"))
  gd, gs = nnx.split(g)

  @jax.jit
  def accumulate(gs, z, labels):
    g = nnx.merge(gd, gs)
    g(z, labels)
    return nnx.state(g, nnx.All(nnx.BatchStat, nnx.Not(SpectralVector)))

  return jax.device_get(accumulate(gs, jax.device_put(z, split), jax.device_put(labels, split)))


def relative_differences(a, b):
  pairs = zip(jax.tree.leaves(a), jax.tree.leaves(b))
  return [float(np.linalg.norm(np.asarray(x, np.float64) - np.asarray(y, np.float64)) /
                max(np.linalg.norm(np.asarray(y, np.float64)), 1e-12)) for x, y in pairs]


def main():
  assert jax.device_count() == 8, jax.devices()
  config = config_lib.load_config(os.path.join(os.path.dirname(__file__), "..", "..",
                                               "configs", "demo.py"), "runlocal")
  config.train.batch_size = 16
  batch = pipeline.level_dataset(config, pipeline.get_source(config))[0]
  mesh8, mesh1 = state_lib.make_mesh(), state_lib.make_mesh(jax.devices()[:1])
  graphdef, state8 = one_update(config, mesh8, batch)
  _, state1 = one_update(config, mesh1, batch)
  _, initial = state_lib.initial_state(config, mesh1)

  z = np.random.default_rng(0).normal(size=(16, config.model.g.z_dim)).astype(np.float32)
  labels = np.arange(16, dtype=np.int32) % config.data.num_classes
  stats8 = standing_stats(config, graphdef, state8, mesh8, z, labels)
  stats1 = standing_stats(config, graphdef, state8, mesh1, z, labels)
  params = lambda s: nnx.state(nnx.merge(graphdef, s), nnx.Param)
  print(json.dumps({
      "devices": jax.device_count(),
      "state_rel_err": max(relative_differences(state8, state1)),
      "param_change": min(relative_differences(params(state1), params(jax.device_get(initial)))),
      "bn_stats_rel_err": max(relative_differences(stats8, stats1)),
      "bn_stats_leaves": len(jax.tree.leaves(stats8)),
  }))


if __name__ == "__main__":
  main()
