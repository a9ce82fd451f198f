"""Sampling's cache of standing statistics: a file that is not of this chain at this length
is recomputed and replaced, never broadcast into the videos."""

import logging

import jax
import numpy as np
from flax import nnx

from conftest import CONFIG_DIR
from hvg_jax import config_lib, models
from hvg_jax import level as level_lib
from hvg_jax.chain import stats_cache


def _levels():
  levels = []
  for name in ("demo_level1", "demo_level2"):  # untrained: the statistics' layout counts
    config = config_lib.load_config(CONFIG_DIR / f"{name}.py", "runlocal")
    graphdef, state = nnx.split(models.build_generator(config, rngs=nnx.Rngs(0)))
    levels.append(level_lib.frozen_level(config, graphdef, state, name))
  return levels


def _stats(levels, lengths, value):
  """Statistics of every level at ``lengths``, every value ``value``."""
  return [jax.tree.map(lambda x, t=t: np.full((t,) + x.shape[1:] if x.ndim else (), value,
                                              x.dtype), lv.stats)
          for lv, t in zip(levels, lengths)]


def test_a_file_with_the_wrong_shapes_is_recomputed_and_replaced(tmp_path, caplog):
  levels, lengths = _levels(), [16, 32]
  file = tmp_path / "stats.npz"
  calls = []

  def compute(value=1.0):
    calls.append(value)
    return _stats(levels, lengths, value)

  # A file of the same levels at another length (as a chain's other sampling left it).
  stats_cache.load_or_compute(file, levels, lambda: _stats(levels, [8, 16], 5.0),
                              lambda s: s, [8, 16])
  with caplog.at_level(logging.WARNING):
    got = stats_cache.load_or_compute(file, levels, compute, lambda s: s, lengths)
  assert calls == [1.0]
  assert any("Ignoring the standing statistics" in r.getMessage() and "level 1's" in
             r.getMessage() for r in caplog.records)
  first = next(x for x in jax.tree.leaves(got[0]) if x.ndim)
  assert first.shape[0] == 16 and float(np.ravel(first)[0]) == 1.0
  # The file now holds the recomputed statistics and is read back as they are.
  again = stats_cache.load_or_compute(file, levels, lambda: compute(2.0), lambda s: s,
                                      lengths)
  assert calls == [1.0]
  jax.tree.map(np.testing.assert_array_equal, again, got)


def test_a_damaged_file_is_recomputed(tmp_path, caplog):
  levels, lengths = _levels(), [16, 32]
  file = tmp_path / "stats.npz"
  stats_cache.load_or_compute(file, levels, lambda: _stats(levels, lengths, 1.0),
                              lambda s: s, lengths)
  file.write_bytes(file.read_bytes()[:500])
  with caplog.at_level(logging.WARNING):
    got = stats_cache.load_or_compute(file, levels, lambda: _stats(levels, lengths, 3.0),
                                      lambda s: s, lengths)
  assert float(np.ravel(next(x for x in jax.tree.leaves(got[1]) if x.ndim))[0]) == 3.0
  assert any("damaged standing statistics" in r.getMessage() for r in caplog.records)
