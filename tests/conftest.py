"""Shared test settings and helpers: JAX settings, paths, NumPy references."""

import os
import pathlib
import sys
import tempfile

import jax
import numpy as np
import pytest

# XLA's CPU fusion emitters (the default) compile the thousands of small fused loops of an
# unoptimised train step slower than the emitters before them, which run the same
# operations (demo level 1's step: 15.8 -> 11.7 CPU-s on jaxlib 0.10.2). XLA reads its
# flags when JAX first uses a device and aborts on one it does not know: only for the
# jaxlib versions where the flag was seen. Commands the tests run inherit it.
TEST_XLA_FLAGS = "--xla_cpu_use_fusion_emitters=false" if jax.__version_info__ < (0, 12) else ""
os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {TEST_XLA_FLAGS}".strip()

# For the tests and the commands they start:
# - they compile many small programs once each: XLA's optimisation passes cost more compile
#   time than they save at these sizes (about half the suite's time); a test that runs long
#   loops turns them back on with the `optimized` fixture;
# - the same programs recur across tests, workers and commands: each is compiled once (the
#   cache is keyed by the program, so stale entries are never reused).
JAX_SETTINGS = {
    "jax_disable_most_optimizations": True,
    "jax_compilation_cache_dir": os.path.join(tempfile.gettempdir(),
                                              "hvg_jax_test_compilation_cache"),
    "jax_persistent_cache_min_compile_time_secs": 0,
    "jax_persistent_cache_min_entry_size_bytes": 0,
}
for _name, _value in JAX_SETTINGS.items():
  jax.config.update(_name, _value)

REPO = pathlib.Path(__file__).resolve().parents[1]
CONFIG_DIR = REPO / "configs"
CONFIG_FILES = sorted(p.name for p in CONFIG_DIR.glob("*.py"))


def np_conv(x, kernel, bias=None):
  """Stride-1 zero-padded ('SAME', odd kernels) cross-correlation in NumPy, channels last.

  ``kernel`` has shape (*window, in, out); the window axes are x's axes just before its
  channel axis, and every axis before those is a batch axis.
  """
  x = np.asarray(x, np.float64)
  kernel = np.asarray(kernel, np.float64)
  window = kernel.shape[:-2]
  n = len(window)
  lead = x.ndim - n - 1
  pad = [(0, 0)] * lead + [(k // 2, k // 2) for k in window] + [(0, 0)]
  xp = np.pad(x, pad)
  out = np.zeros(x.shape[:-1] + (kernel.shape[-1],))
  for offset in np.ndindex(*window):
    sl = tuple(slice(o, o + x.shape[lead + i]) for i, o in enumerate(offset))
    out += np.einsum("...i,io->...o", xp[(Ellipsis,) + sl + (slice(None),)], kernel[offset])
  if bias is not None:
    out += np.asarray(bias, np.float64)
  return out


@pytest.fixture
def rng():
  return np.random.default_rng(0)


@pytest.fixture
def optimized():
  """Full XLA optimisations for a test that runs enough steps to profit from them."""
  jax.config.update("jax_disable_most_optimizations", False)
  yield
  jax.config.update("jax_disable_most_optimizations", True)


def subprocess_env(**extra) -> dict:
  """Environment for a command a test runs: the same JAX settings as the tests."""
  env = dict(os.environ, PYTHONUNBUFFERED="1")
  env.update({name.upper(): str(value).lower() if isinstance(value, bool) else str(value)
              for name, value in JAX_SETTINGS.items()})
  if "XLA_FLAGS" in extra:
    extra = dict(extra, XLA_FLAGS=f"{extra['XLA_FLAGS']} {TEST_XLA_FLAGS}".strip())
  env.update(extra)
  return env


PYTHON = sys.executable


def saved_demo_level1_state(workdir, step: int):
  """The training state the demo's tiny level 1 (configs/demo_level1.py:runlocal) saved at
  ``step`` in ``workdir``, as host arrays."""
  from flax import nnx  # pylint: disable=import-outside-toplevel
  from hvg_jax import config_lib, runtime  # pylint: disable=import-outside-toplevel
  from hvg_jax.checkpoints import Checkpoints  # pylint: disable=import-outside-toplevel
  from hvg_jax.train import state as state_lib  # pylint: disable=import-outside-toplevel
  config = config_lib.load_config(CONFIG_DIR / "demo_level1.py", "runlocal")
  _, abstract = state_lib.abstract_state(config, runtime.make_mesh(jax.devices()[:1]))
  checkpoints = Checkpoints(workdir)
  try:
    return jax.device_get(nnx.to_pure_dict(checkpoints.restore(step, abstract)))
  finally:
    checkpoints.close()
