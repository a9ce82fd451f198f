"""Rematerialisation (config model.remat) changes what is stored, not what is computed."""

import jax
import numpy as np
import pytest
from flax import nnx

from conftest import CONFIG_DIR
from hvg_jax import config_lib, runtime
from hvg_jax.programs import random_levels, synthetic_batch
from hvg_jax.chain import generate as gen
from hvg_jax.train import state as state_lib
from hvg_jax.train import step as step_lib

pytestmark = pytest.mark.slow  # compiles training updates


def _step(config, lower_configs):
  mesh = runtime.make_mesh(jax.devices()[:1])
  lower = random_levels(lower_configs)
  lower_levels = gen.LowerLevels(lower, config_lib.level_shapes(config).input_train_frames)
  graphdef, state = state_lib.initial_state(config, mesh)
  train_step = step_lib.make_train_step(config, graphdef, mesh, lower_levels)
  batch = synthetic_batch(config, mesh)
  text = train_step.lower(state, batch, lower_levels.arrays).as_text()
  new_state, metrics = train_step(state, batch, lower_levels.arrays)
  return text, jax.device_get(nnx.to_pure_dict(new_state)), jax.device_get(metrics)


def test_remat_gives_the_same_update():
  chain = config_lib.load_config(CONFIG_DIR / "demo.py", "runlocal")
  level1, level2 = config_lib.chain_levels(chain)
  text, state, metrics = _step(level2, [level1])
  level2.model.remat = True
  text_remat, state_remat, metrics_remat = _step(level2, [level1])
  # The recomputation is in the program (XLA's remat barriers), the result unchanged.
  assert "optimization_barrier" in text_remat and "optimization_barrier" not in text
  for k in metrics:
    np.testing.assert_allclose(metrics_remat[k], metrics[k], rtol=1e-5, err_msg=k)
  for a, b in zip(jax.tree.leaves(state_remat), jax.tree.leaves(state)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
