"""One training update on 8 simulated CPU devices and on 1, from the same state and batch.

Run as a script (XLA_FLAGS must be set before JAX starts). Prints a JSON line with the
largest relative difference of the whole state after the update (parameters, optimiser
moments, spectral-norm vectors; G's BatchNorm runs inside the update, so equal parameters
need global statistics), and of the standing statistics one sharded pass of G accumulates
(BatchNorm's statistics read directly). Then the same for a level-2 update whose inputs
come from a frozen level 1 inside the step (its gradients, at learning rate 0; one ReLU
unit at its kink set aside: state_compare.state_differences), and for a chain's standing
statistics and videos computed with the batch split over the devices.
"""

import os

os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                           + " --xla_force_host_platform_device_count=8")

import dataclasses  # pylint: disable=g-import-not-at-top,wrong-import-position
import json
from unittest import mock

import jax
import numpy as np
import optax
from flax import nnx

from hvg_jax import config_lib, models, runtime
from hvg_jax import level as level_lib
from hvg_jax.chain import generate as chain_gen
from hvg_jax.chain.sampler import ChainSampler
from hvg_jax.data import pipeline
from hvg_jax.layers import SpectralVector, reset_standing_stats, standing_stats_view
from hvg_jax.train import state as state_lib
from hvg_jax.train import step as step_lib
from state_compare import state_differences  # tests/helpers, beside this script


def one_update(config, mesh, batch, levels=None):
  graphdef, state = state_lib.initial_state(config, mesh)
  lower = None
  if levels:
    levels = [dataclasses.replace(lv, **dict(zip(
        ("params", "stats"), jax.device_put(lv.arrays, runtime.replicated(mesh)))))
              for lv in levels]
    lower = chain_gen.LowerLevels(levels, config_lib.level_shapes(config).input_train_frames)
  step = step_lib.make_train_step(config, graphdef, mesh, lower)
  state, _ = step(state, runtime.put_batch(mesh, batch), lower and lower.arrays)
  return graphdef, jax.device_get(state)


def random_chain():
  """The demo chain's tiny levels, untrained, with standing statistics."""
  levels = []
  for k in (1, 2):
    config = config_lib.load_config(os.path.join(CONFIGS, f"demo_level{k}.py"), "runlocal")
    graphdef, state = nnx.split(models.build_generator(config, rngs=nnx.Rngs(k)))
    levels.append(level_lib.frozen_level(config, graphdef, state, "random"))
  stats = ChainSampler(levels, progress=False).standing_statistics(
      [8, 16], passes=1, batch=8, key=jax.random.key(0), recompute=[0, 1])
  for level, s in zip(levels, stats):
    level.stats = s
  return levels


def chain_outputs(levels, mesh):
  """Standing statistics (2 passes of 8) and 8 videos of the chain, batch split over
  ``mesh`` (or on one device)."""
  if mesh is not None:
    levels = [dataclasses.replace(lv, **dict(zip(
        ("params", "stats"), jax.device_put(lv.arrays, runtime.replicated(mesh)))))
              for lv in levels]
  sampler = ChainSampler(levels, mesh=mesh, progress=False)
  stats = sampler.standing_statistics([16, 32], passes=2, batch=8, key=jax.random.key(1))
  zs = chain_gen.noise(jax.random.key(2), levels, 8)
  labels = np.arange(8, dtype=np.int32) % 4
  return jax.device_get(stats), sampler.videos(stats, zs, labels)


def standing_stats(config, graphdef, state, mesh, z, labels):
  """Standing statistics of one pass of G over the (sharded) batch z."""
  g = nnx.merge(graphdef, jax.device_put(state, runtime.replicated(mesh))).generator
  reset_standing_stats(g, config.data.frames)
  g = standing_stats_view(g)
  split = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("data"))
  gd, gs = nnx.split(g)

  @jax.jit
  def accumulate(gs, z, labels):
    g = nnx.merge(gd, gs)
    g(z, labels)
    return nnx.state(g, nnx.All(nnx.BatchStat, nnx.Not(SpectralVector)))

  return jax.device_get(accumulate(gs, jax.device_put(z, split), jax.device_put(labels, split)))


CONFIGS = os.path.join(os.path.dirname(__file__), "..", "..", "configs")


def generic(batch):
  """The batch with a little noise: the demo's flat colours give exact ties at ReLU kinks,
  where the devices' different order of float sums (1e-7) legitimately flips a whole flat
  region at once; generic data has no such ties."""
  video = np.asarray(batch["video"]).astype(np.int32)
  noise = np.random.default_rng(0).integers(-3, 4, size=video.shape)
  return dict(batch, video=np.clip(video + noise, 0, 255).astype(np.uint8))


def relative_differences(a, b):
  pairs = zip(jax.tree.leaves(a), jax.tree.leaves(b))
  return [float(np.linalg.norm(np.asarray(x, np.float64) - np.asarray(y, np.float64)) /
                max(np.linalg.norm(np.asarray(y, np.float64)), 1e-12)) for x, y in pairs]


def main():
  assert jax.device_count() == 8, jax.devices()
  config = config_lib.load_config(os.path.join(CONFIGS, "demo_level1.py"), "runlocal")
  config.train.batch_size = 16
  batch = generic(pipeline.level_dataset(config, pipeline.get_source(config))[0])
  mesh8, mesh1 = runtime.make_mesh(), runtime.make_mesh(jax.devices()[:1])
  graphdef, state8 = one_update(config, mesh8, batch)
  _, state1 = one_update(config, mesh1, batch)
  _, initial = state_lib.initial_state(config, mesh1)

  z = np.random.default_rng(0).normal(size=(16, config.model.g.z_dim)).astype(np.float32)
  labels = np.arange(16, dtype=np.int32) % config.data.num_classes
  stats8 = standing_stats(config, graphdef, state8, mesh8, z, labels)
  stats1 = standing_stats(config, graphdef, state8, mesh1, z, labels)
  params = lambda s: nnx.state(nnx.merge(graphdef, s), nnx.Param)

  levels = random_chain()
  config2 = config_lib.load_config(os.path.join(CONFIGS, "demo_level2.py"), "runlocal")
  config2.train.batch_size = 16
  batch2 = generic(pipeline.level_dataset(config2, pipeline.get_source(config2))[0])
  # Adam at learning rate 0 (configs must have > 0): each of the update's gradients (D's two,
  # G's; Adam's moments hold the last and the squares of all) is taken at the same
  # parameters on both meshes, so a ReLU unit at its kink moves one channel of one layer's
  # gradient, not every later step's (state_differences). Level 1's update above checks,
  # with nothing set aside, that the parameters move alike.
  with mock.patch.object(optax, "adam", lambda _, *betas, adam=optax.adam: adam(0.0, *betas)):
    _, level2_state8 = one_update(config2, mesh8, batch2, levels[:1])
    _, level2_state1 = one_update(config2, mesh1, batch2, levels[:1])
  chain8, chain1 = chain_outputs(levels, mesh8), chain_outputs(levels, None)
  level2_err, level2_set_aside = state_differences(level2_state8, level2_state1)
  print(json.dumps({
      "level2_state_rel_err": level2_err,
      "level2_flipped_units": level2_set_aside,
      "chain_stats_rel_err": max(relative_differences(chain8[0], chain1[0])),
      "chain_videos_max_err": max(float(np.abs(a - b).max())
                                  for a, b in zip(chain8[1], chain1[1])),
      "devices": jax.device_count(),
      "state_rel_err": max(relative_differences(state8, state1)),
      "param_change": min(relative_differences(params(state1), params(jax.device_get(initial)))),
      "bn_stats_rel_err": max(relative_differences(stats8, stats1)),
      "bn_stats_leaves": len(jax.tree.leaves(stats8)),
  }))


if __name__ == "__main__":
  main()
