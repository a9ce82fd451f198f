"""JAX's persistent compilation cache for the commands: a restarted run does not compile again.

A run requeued by SLURM or restarted after a TPU preemption compiles the same programs as
before (minutes at paper scale); with the cache in the workdir (local, shared or gs://,
which every process of a cluster run reaches) it reads them back instead. Keys are the
programs and the compiler's version, so a stale entry is never used.

``--compilation_cache``: ``auto`` (default) uses ``$JAX_COMPILATION_CACHE_DIR`` when set,
else the command's own place (training: ``<workdir>/compilation_cache``); ``off``; or a
directory.
"""

import os

import jax
from absl import flags, logging

_CACHE = flags.DEFINE_string(
    "compilation_cache", "auto", "Where compiled programs are kept for the next run: auto "
    "(training: <workdir>/compilation_cache; or $JAX_COMPILATION_CACHE_DIR), off, or a "
    "directory (gs:// too).")


def enable(default_dir: str | None) -> str | None:
  """Turns the cache on in ``--compilation_cache``'s directory (``auto``: the environment's,
  else ``default_dir``); returns the directory, or None when off. Call before anything
  compiles."""
  choice = _CACHE.value
  if choice == "off":
    return None
  if choice == "auto":
    directory = (jax.config.jax_compilation_cache_dir
                 or os.environ.get("JAX_COMPILATION_CACHE_DIR") or default_dir)
  else:
    directory = choice
  if not directory:
    return None
  # Programs compiled in under a second (jax_persistent_cache_min_compile_time_secs) are
  # not stored: they cost less than a read.
  jax.config.update("jax_compilation_cache_dir", str(directory))
  logging.info("Compilation cache: %s", directory)
  return str(directory)
