"""Devices: the mesh, its shardings, and moving arrays between hosts and devices.

Every level trains and samples data parallel over a 1D ``data`` mesh: parameters and
statistics are replicated, batches are split over ``data``. Every other module asks this
one for the mesh and its shardings, so the layout is decided in one place.
"""

import functools
import os

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import NamedSharding, PartitionSpec as P


def make_mesh(devices=None) -> jax.sharding.Mesh:
  """A 1D ``data`` mesh over every device (Auto axis: data-parallel by propagation)."""
  devices = jax.devices() if devices is None else devices
  return jax.make_mesh((len(devices),), ("data",), devices=devices,
                       axis_types=(jax.sharding.AxisType.Auto,))


def replicated(mesh) -> NamedSharding:
  """Parameters, optimiser states and statistics: a whole copy on every device."""
  return NamedSharding(mesh, P())


def per_example(mesh) -> NamedSharding:
  """(B, ...) arrays: the batch axis split over ``data``."""
  return NamedSharding(mesh, P("data"))


def per_step_example(mesh) -> NamedSharding:
  """(d_steps, B, ...) training batches: the batch axis split over ``data``."""
  return NamedSharding(mesh, P(None, "data"))


def abstract(tree, sharding=None):
  """``tree``'s arrays as ShapeDtypeStructs with ``sharding``: a restore or compile target,
  nothing allocated."""
  return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding),
                      tree)


def put_batch(mesh, batch):
  """This process's part of a global training batch -> global arrays split over ``data``."""
  split = per_step_example(mesh)
  return jax.tree.map(lambda x: jax.make_array_from_process_local_data(split, x), batch)


def put_per_example(x, mesh):
  """A per-example host array on the devices: split over the mesh's ``data`` axis when it
  divides (every process passes the whole array), else on the default device."""
  if x is None:
    return None
  x = np.asarray(x)
  if mesh is None or x.shape[0] % mesh.size:
    return jnp.asarray(x)
  return jax.make_array_from_callback(x.shape, per_example(mesh), lambda index: x[index])


def put_replicated(tree, mesh):
  """Host arrays (the same on every process) replicated over the mesh, or on the default
  device without one."""
  if mesh is None:
    return jax.tree.map(jnp.asarray, tree)
  sharding = replicated(mesh)
  return jax.tree.map(
      lambda x: jax.make_array_from_callback(x.shape, sharding, lambda i: np.asarray(x)[i]),
      tree)


@functools.cache  # once: TensorFlow refuses to change its devices after it started
def available_host_memory() -> int:
  """Bytes of host memory available to a new allocation (Linux's MemAvailable; elsewhere
  the free physical pages)."""
  try:
    with open("/proc/meminfo", encoding="ascii") as f:
      for line in f:
        if line.startswith("MemAvailable:"):
          return int(line.split()[1]) * 1024
  except OSError:
    pass
  return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def keep_tensorflow_off_accelerators():
  """TensorFlow only reads data and writes TensorBoard files: it must not take the GPUs
  JAX uses. Imported here, when a command gets that far (it takes seconds to import)."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  tf.config.set_visible_devices([], "GPU")


def summary_writer(logdir, *, just_logging: bool = False):
  """clu's default metric writer (TensorBoard and the log)."""
  keep_tensorflow_off_accelerators()
  from clu import metric_writers  # pylint: disable=import-outside-toplevel (imports TF)
  return metric_writers.create_default_writer(logdir, just_logging=just_logging)


def fetch(x) -> np.ndarray:
  """A (possibly multi-process) device array as a host array on every process."""
  return np.asarray(multihost_utils.process_allgather(x, tiled=True))
