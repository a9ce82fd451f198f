"""Standing statistics kept next to the chain: computed once per sampling setting (lengths,
passes, batch, noise scale, seed), so a second ``sample`` at the same length starts at
once. A file is named by a hash of the setting and of the chain's weights and stored
statistics: a changed chain never reads another chain's file.
"""

import hashlib
import json
import logging
import zipfile

import jax
import jax.numpy as jnp
import numpy as np
from etils import epath
from jax.experimental import multihost_utils

from hvg_jax import files, runtime
from hvg_jax.layout import STANDING_STATS_DIR as CACHE_DIR
from hvg_jax.level import FrozenLevel


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


def _read(file: epath.Path, levels: list[FrozenLevel], lengths: list[int] | None):
  """The host statistics in ``file``, or None when it is missing, unreadable, or not of
  these levels at ``lengths`` (each statistic one value per timestep)."""
  if not file.exists():
    return None
  try:
    with file.open("rb") as f, np.load(f) as arrays:
      stats = [[arrays[f"level{k}_{i}"] for i in range(len(jax.tree.leaves(lv.stats)))]
               for k, lv in enumerate(levels)]
  except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
    logging.warning("Ignoring the damaged standing statistics %s (%s); computing them "
                    "again.", file, e)
    return None
  for k, (lv, leaves) in enumerate(zip(levels, stats)):
    for have, like in zip(leaves, jax.tree.leaves(lv.stats)):
      want = like.shape if lengths is None or not like.ndim else (lengths[k],) + like.shape[1:]
      if have.shape != tuple(want) or have.dtype != like.dtype:
        logging.warning("Ignoring the standing statistics %s: level %d's hold an array of "
                        "%s %s where this chain needs %s %s; computing them again.", file,
                        k + 1, have.dtype, have.shape, like.dtype, tuple(want))
        return None
  return [jax.tree.unflatten(jax.tree.structure(lv.stats), leaves)
          for lv, leaves in zip(levels, stats)]


def load_or_compute(file: epath.Path, levels: list[FrozenLevel], compute, place,
                    lengths: list[int] | None = None) -> list:
  """The statistics in ``file`` (``place``d on devices) when every process can read it
  and they are of these levels at ``lengths`` (every level's frames), else ``compute()``'s,
  kept in ``file`` for the next time (replacing it)."""
  stats = _read(file, levels, lengths)
  found = stats is not None
  if jax.process_count() > 1:  # one decision for all (computing runs collectives): read
    # only if every process can (the directory may be local to each host)
    found = bool(np.min(multihost_utils.process_allgather(np.int32(found))))
  if found:
    logging.info("Standing statistics from %s (computed before for this chain and "
                 "setting).", file)
    return [place(s) for s in stats]
  stats = compute()
  arrays = {f"level{k}_{i}": runtime.fetch(x)  # every process: fetching is collective
            for k, s in enumerate(stats) for i, x in enumerate(jax.tree.leaves(s))}
  try:  # every process writes (the same arrays): the directory may be local to each host
    with files.atomic(file) as f:  # whole files only
      np.savez(f, **arrays)
  except files.WriteError as e:
    logging.warning("Could not keep the standing statistics (%s); the next sample at this "
                    "length computes them again.", e)
    return stats
  logging.info("Standing statistics kept in %s: a sample at the same length reuses them.",
               file)
  return stats
