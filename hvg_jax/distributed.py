"""Starting several processes (hosts) as one JAX run: Cloud TPU slices, SLURM, Open MPI, by hand.

Every process runs the same command. ``jax.distributed.initialize`` must be called before
anything touches a device; after it ``jax.devices()`` lists every process's devices, the
mesh spans all of them and each process feeds its own slice of the global batch.

JAX decides what it can: ``initialize`` gets only what the user set (``--coordinator_address``,
``--num_processes``, ``--process_id``, or ``$JAX_COORDINATOR_ADDRESS``, ``$JAX_NUM_PROCESSES``,
``$JAX_PROCESS_ID``) and JAX's cluster detection fills the rest: a Cloud TPU VM slice (the
metadata server), TPUs on GKE, a SLURM step, Open MPI up to 4 (``OMPI_MCA_orte_hnp_uri``),
Kubernetes. Open MPI 5, which JAX does not detect, gives the process count and index
(``OMPI_COMM_WORLD_SIZE``, ``OMPI_COMM_WORLD_RANK``); the coordinator address is the user's.

``--distributed``: ``auto`` (default) calls it when something is set or a cluster of more
than one process is detected; ``on`` always (the launch scripts, which know they start
several processes); ``off`` never. Settings that cannot work are a one-line error.
"""

import os

import jax
from absl import flags, logging

from hvg_jax.errors import UserError

_DISTRIBUTED = flags.DEFINE_enum(
    "distributed", "auto", ["auto", "on", "off"], "Start jax.distributed: auto (when "
    "settings are given or JAX detects a cluster of several processes), on (always: the "
    "launch scripts), off (one process).")
_COORDINATOR = flags.DEFINE_string(
    "coordinator_address", None, "host:port of process 0's coordinator (default: "
    "$JAX_COORDINATOR_ADDRESS, or the cluster's).")
_NUM_PROCESSES = flags.DEFINE_integer(
    "num_processes", None, "Processes in the run (default: $JAX_NUM_PROCESSES, or the "
    "cluster's).")
_PROCESS_ID = flags.DEFINE_integer(
    "process_id", None, "This process's index, 0 .. num_processes - 1 (default: "
    "$JAX_PROCESS_ID, or the cluster's).")

_NAMES = ("coordinator_address", "num_processes", "process_id")


class DistributedError(UserError, ValueError):
  """Multi-process settings that do not fit together; the message says what to set."""


def _env_int(environ, name):
  value = environ.get(name)
  if value in (None, ""):
    return None
  try:
    return int(value)
  except ValueError:
    raise DistributedError(f"${name}={value!r} is not an integer") from None


def explicit_settings(coordinator_address=None, num_processes=None, process_id=None,
                      environ=os.environ) -> dict:
  """The settings the user gave (flags over ``$JAX_*`` variables), checked; only those."""
  settings = {
      "coordinator_address": coordinator_address or environ.get("JAX_COORDINATOR_ADDRESS"),
      "num_processes": (num_processes if num_processes is not None
                        else _env_int(environ, "JAX_NUM_PROCESSES")),
      "process_id": (process_id if process_id is not None
                     else _env_int(environ, "JAX_PROCESS_ID")),
  }
  settings = {k: v for k, v in settings.items() if v not in (None, "")}
  n, i = settings.get("num_processes"), settings.get("process_id")
  if n is not None and n < 1:
    raise DistributedError(f"--num_processes={n}: at least 1")
  if i is not None and (i < 0 or (n is not None and i >= n)):
    raise DistributedError(f"--process_id={i}{f' with --num_processes={n}' if n else ''}: "
                           f"the process id must be 0 .. {n - 1 if n else 'num_processes - 1'}")
  address = settings.get("coordinator_address")
  if address is not None and ":" not in address:
    raise DistributedError(f"--coordinator_address={address!r}: give host:port of process 0 "
                           "(e.g. 10.0.0.2:8476)")
  return settings


def detected_clusters() -> list:
  """JAX's cluster environments present here, as JAX's own detection sees them."""
  from jax._src import clusters  # pylint: disable=g-import-not-at-top
  return [c for c in clusters.ClusterEnv._cluster_types  # pylint: disable=protected-access
          if not c.opt_in_only_method and c.is_env_present()]


def _open_mpi_5(environ) -> dict | None:
  """Open MPI 5's rank and size (JAX detects only Open MPI 4 and older), or None."""
  if "OMPI_MCA_orte_hnp_uri" in environ or "OMPI_COMM_WORLD_SIZE" not in environ:
    return None
  return {"num_processes": _env_int(environ, "OMPI_COMM_WORLD_SIZE"),
          "process_id": _env_int(environ, "OMPI_COMM_WORLD_RANK")}


def arguments(mode: str = "auto", coordinator_address=None, num_processes=None,
              process_id=None, environ=os.environ, clusters=None) -> tuple[dict, str] | None:
  """(keyword arguments for jax.distributed.initialize, what starts the run), or None for
  one process. ``clusters``: JAX's detected cluster environments (default: detected)."""
  if mode == "off":
    return None
  settings = explicit_settings(coordinator_address, num_processes, process_id, environ)
  if settings.get("num_processes") == 1:
    return None
  mpi = _open_mpi_5(environ)
  if mpi is not None:
    settings = {**{k: v for k, v in mpi.items() if v is not None}, **settings}
    if mpi["num_processes"] == 1 and mode == "auto":
      return None
    if "coordinator_address" not in settings:
      raise DistributedError(
          "Open MPI 5 run: JAX does not detect it; give process 0's host:port as "
          "--coordinator_address (or $JAX_COORDINATOR_ADDRESS); the process count and index "
          "come from $OMPI_COMM_WORLD_SIZE and $OMPI_COMM_WORLD_RANK")
    return settings, "Open MPI 5"
  clusters = detected_clusters() if clusters is None else clusters
  if clusters:
    cluster = clusters[0]
    if mode == "auto" and not settings and cluster.get_process_count() <= 1:
      return None  # e.g. a SLURM step of one task, a one-host TPU VM
    return settings, cluster.__name__
  if set(settings) == set(_NAMES):
    return settings, settings["coordinator_address"]
  if settings or mode == "on":
    missing = ", ".join("--" + k for k in _NAMES if k not in settings)
    raise DistributedError(
        f"a multi-process run outside a cluster JAX detects needs --coordinator_address, "
        f"--num_processes and --process_id (or $JAX_COORDINATOR_ADDRESS, $JAX_NUM_PROCESSES, "
        f"$JAX_PROCESS_ID); missing: {missing}")
  return None


def initialize():
  """Starts the multi-process run the flags or the environment describe (see the module
  docstring); nothing for a single process. Call before any device is touched."""
  plan = arguments(_DISTRIBUTED.value, _COORDINATOR.value, _NUM_PROCESSES.value,
                   _PROCESS_ID.value)
  if plan is None:
    return
  settings, source = plan
  jax.distributed.initialize(**settings)
  logging.info("Process %d of %d (%s), %d local of %d devices", jax.process_index(),
               jax.process_count(), source, jax.local_device_count(), jax.device_count())
