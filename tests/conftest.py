"""Shared test helpers: NumPy references the layers are checked against."""

import pathlib

import jax
import numpy as np
import pytest

# Tests compile many small programs once each: XLA's optimisation passes cost more compile
# time than they save at these sizes (about half the suite's time). A test that runs long
# loops turns them back on with the `optimized` fixture.
jax.config.update("jax_disable_most_optimizations", True)

REPO = pathlib.Path(__file__).resolve().parents[1]
CONFIG_DIR = REPO / "configs"
PAPER_CONFIGS = sorted(p.name for p in CONFIG_DIR.glob("*.py"))


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
