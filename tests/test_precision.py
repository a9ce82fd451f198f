"""Mixed precision: bfloat16 compute with float32 parameters, optimiser state, spectral-norm
vectors, BatchNorm statistics and losses stays close to float32 over a few steps."""

import jax
import jax.numpy as jnp
import optax
import pytest
from flax import nnx

from conftest import CONFIG_DIR
from hvg_jax import config_lib, runtime
from hvg_jax.programs import synthetic_batch
from hvg_jax.train import state as state_lib
from hvg_jax.train import step as step_lib

pytestmark = pytest.mark.slow  # compiles training updates


def _run(config, steps=3):
  mesh = runtime.make_mesh(jax.devices()[:1])
  graphdef, state = state_lib.initial_state(config, mesh)
  params0 = jax.device_get(nnx.state(nnx.merge(graphdef, state), nnx.Param))  # donated below
  train_step = step_lib.make_train_step(config, graphdef, mesh)
  batch = synthetic_batch(config, mesh)
  losses = []
  for _ in range(steps):
    state, metrics = train_step(state, batch, None)
    losses.append({k: float(v) for k, v in jax.device_get(metrics).items()})
  return params0, graphdef, state, losses


def _diff(a, b):
  return float(optax.tree.norm(jax.tree.map(lambda x, y: x - y, a, b)))


def test_bfloat16_steps_stay_close_to_float32():
  config = config_lib.load_config(CONFIG_DIR / "demo_level1.py", "runlocal")
  # The papers' rates: the demo's tenfold rates turn rounding into a different trajectory
  # within three GAN steps, which says nothing about the precision of one step.
  config.train.update(g_lr=1e-4, d_lr=5e-4)
  params0, graphdef, state32, losses32 = _run(config)
  config.model.dtype = "bfloat16"
  _, _, state16, losses16 = _run(config)
  # Everything the step carries (parameters, Adam, EMA, u vectors, statistics) is float32.
  dtypes = {x.dtype for x in jax.tree.leaves(state16) if jnp.issubdtype(x.dtype, jnp.floating)}
  assert dtypes == {jnp.dtype(jnp.float32)}
  for a, b in zip(losses32, losses16):  # measured: within 1.5%
    for k in ("d_loss", "g_loss"):
      assert abs(a[k] - b[k]) < 0.05 * max(1.0, abs(a[k])), (k, a[k], b[k])
  p32 = nnx.state(nnx.merge(graphdef, state32), nnx.Param)
  p16 = nnx.state(nnx.merge(graphdef, state16), nnx.Param)
  # The three updates differ by bfloat16 rounding only (measured: 5% of their size).
  update = _diff(p32, params0)
  assert 0 < _diff(p16, p32) < 0.2 * update, (_diff(p16, p32), update)
