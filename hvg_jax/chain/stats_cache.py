"""Standing statistics kept next to the chain: computed once per sampling setting (lengths,
passes, batch, noise scale, seed), so a second ``sample`` at the same length starts at
once. A file is named by a hash of the setting and of the chain's weights and stored
statistics: a changed chain never reads another chain's file.
"""

import hashlib
import io
import json
import logging

import jax
import jax.numpy as jnp
import numpy as np
from etils import epath

from hvg_jax import runtime
from hvg_jax.level import FrozenLevel

CACHE_DIR = "standing_stats"


def _fingerprint(levels: list[FrozenLevel]) -> str:
  """A hash of every level's config, and of the sum and sum of squares of each of its
  arrays (weights and stored statistics)."""
  h = hashlib.sha256()
  for lv in levels:
    h.update(lv.config.to_json(sort_keys=True).encode())
    moments = jax.jit(lambda tree: [jnp.stack([jnp.sum(x.astype(jnp.float32)),
                                               jnp.sum(jnp.square(x.astype(jnp.float32)))])
                                    for x in jax.tree.leaves(tree)])(lv.arrays)
    h.update(np.stack([runtime.fetch(m) for m in moments]).astype(np.float64).tobytes())
  return h.hexdigest()


def path(directory, levels: list[FrozenLevel], setting: dict) -> epath.Path:
  """The file of ``setting`` (JSON-able) for these levels in ``directory``."""
  key = hashlib.sha256((json.dumps(setting, sort_keys=True) + _fingerprint(levels)).encode())
  return epath.Path(directory) / CACHE_DIR / f"{key.hexdigest()[:24]}.npz"


def load(file: epath.Path, levels: list[FrozenLevel], place):
  """The statistics in ``file`` (laid out as the levels' own, ``place``d on devices), or
  None when there is none."""
  if not file.exists():
    return None
  with file.open("rb") as f:
    arrays = np.load(io.BytesIO(f.read()))
    stats = []
    for k, lv in enumerate(levels):
      treedef = jax.tree.structure(lv.stats)
      stats.append(place(jax.tree.unflatten(
          treedef, [arrays[f"level{k}_{i}"] for i in range(treedef.num_leaves)])))
  logging.info("Standing statistics from %s (computed before for this chain and setting).",
               file)
  return stats


def save(file: epath.Path, stats: list):
  """Writes ``stats`` (process 0; a directory it cannot write is only a warning)."""
  if jax.process_index() != 0:
    return
  buffer = io.BytesIO()  # zipfile seeks, which remote (gs://) files do not
  np.savez(buffer, **{f"level{k}_{i}": runtime.fetch(x)
                      for k, s in enumerate(stats) for i, x in enumerate(jax.tree.leaves(s))})
  try:
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_bytes(buffer.getvalue())
  except OSError as e:
    logging.warning("Could not keep the standing statistics in %s (%s); the next sample at "
                    "this length computes them again.", file, e)
    return
  logging.info("Standing statistics kept in %s: a sample at the same length reuses them.",
               file)
