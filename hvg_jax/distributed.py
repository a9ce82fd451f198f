"""Starting several processes (hosts) as one JAX run: Cloud TPU slices, SLURM, explicit flags.

Every process runs the same command. ``jax.distributed.initialize`` must be called before
anything touches a device; after it ``jax.devices()`` lists every process's devices, the
mesh spans all of them and each process feeds its own slice of the global batch.

When it is called:
  - explicit flags (``--coordinator_address``, ``--num_processes``, ``--process_id``) or
    the environment variables of the same names in capitals (``JAX_COORDINATOR_ADDRESS``,
    ``JAX_NUM_PROCESSES``, ``JAX_PROCESS_ID``): with those;
  - a multi-host Cloud TPU slice (``TPU_WORKER_HOSTNAMES`` lists several workers), a SLURM
    job of several tasks (``SLURM_NTASKS`` > 1) or an Open MPI run
    (``OMPI_COMM_WORLD_SIZE`` > 1): with no arguments, JAX reading the cluster itself;
  - otherwise (one process): not at all.
On CPUs the collectives between processes go through gloo.
"""

import os

import jax
from absl import flags, logging

_COORDINATOR = flags.DEFINE_string(
    "coordinator_address", None, "host:port of process 0's coordinator, for a multi-process "
    "run started by hand (default: $JAX_COORDINATOR_ADDRESS, or the cluster's own).")
_NUM_PROCESSES = flags.DEFINE_integer(
    "num_processes", None, "Processes in the run (default: $JAX_NUM_PROCESSES, or the "
    "cluster's).")
_PROCESS_ID = flags.DEFINE_integer(
    "process_id", None, "This process's index, 0 .. num_processes - 1 (default: "
    "$JAX_PROCESS_ID, or the cluster's).")


class DistributedError(ValueError):
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
                      environ=os.environ) -> dict | None:
  """{coordinator_address, num_processes, process_id} from the arguments (the flags) or
  the environment, None when neither sets any of them."""
  settings = {
      "coordinator_address": coordinator_address or environ.get("JAX_COORDINATOR_ADDRESS"),
      "num_processes": (num_processes if num_processes is not None
                        else _env_int(environ, "JAX_NUM_PROCESSES")),
      "process_id": (process_id if process_id is not None
                     else _env_int(environ, "JAX_PROCESS_ID")),
  }
  given = {k for k, v in settings.items() if v not in (None, "")}
  if not given:
    return None
  missing = sorted(set(settings) - given)
  if missing:
    raise DistributedError(
        f"a multi-process run started by hand needs --coordinator_address, --num_processes "
        f"and --process_id (or $JAX_COORDINATOR_ADDRESS, $JAX_NUM_PROCESSES, "
        f"$JAX_PROCESS_ID); missing: {', '.join('--' + m for m in missing)}")
  n, i = settings["num_processes"], settings["process_id"]
  if n < 1 or not 0 <= i < n:
    raise DistributedError(f"--process_id={i} with --num_processes={n}: the process id must "
                           f"be 0 .. {n - 1}")
  if ":" not in settings["coordinator_address"]:
    raise DistributedError(f"--coordinator_address={settings['coordinator_address']!r}: give "
                           "host:port of process 0 (e.g. 10.0.0.2:8476)")
  return settings


def cluster_detected(environ=os.environ) -> str | None:
  """The multi-process cluster JAX can read by itself, or None."""
  if len([h for h in environ.get("TPU_WORKER_HOSTNAMES", "").split(",") if h]) > 1:
    return "Cloud TPU slice"
  if (_env_int(environ, "SLURM_NTASKS") or 1) > 1:
    return "SLURM job"
  if (_env_int(environ, "OMPI_COMM_WORLD_SIZE") or 1) > 1:
    return "Open MPI run"
  return None


def initialize():
  """Starts the multi-process run the flags or the environment describe (see the module
  docstring); nothing for a single process. Call before any device is touched."""
  settings = explicit_settings(_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value)
  cluster = None if settings else cluster_detected()
  if settings is None and cluster is None:
    return
  if settings and settings["num_processes"] == 1:
    return
  # CPU processes talk through gloo (there is no default cross-process CPU collective).
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  jax.distributed.initialize(**(settings or {}))
  logging.info("Process %d of %d (%s), %d local of %d devices", jax.process_index(),
               jax.process_count(), cluster or settings["coordinator_address"],
               jax.local_device_count(), jax.device_count())
