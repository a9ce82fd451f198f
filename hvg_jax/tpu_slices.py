"""Cloud TPU slices by their accelerator type (v4-8, v5p-128, v5litepod-16, v6e-256): their
chips, hosts and topology, and the compile-only devices of a slice for the real TPU
compiler on a machine without TPUs (``libtpu``, the ``tpu`` extra, compiles for them).

Names follow Cloud TPU: v4-N and v5p-N count TensorCores (two per chip), v5litepod-N and
v6e-N count chips. Shapes follow the Cloud TPU documentation's tables: 3D slices grow by
doubling their smallest side, the last one first (v5p-8 2x2x1, v5p-16 2x2x2, v5p-32
2x2x4, v5p-64 2x4x4, v5p-128 4x4x4, ...); 2D slices likewise from 2x2 (v6e-8 2x4, v6e-16
4x4, v6e-32 4x8, ...).
"""

import dataclasses
import functools
import math
import os
import re

from hvg_jax.config_lib import ConfigError


@dataclasses.dataclass(frozen=True)
class Chip:
  """One TPU generation's chip and host."""
  generation: str  # as accelerator types name it
  device_kind: str  # as JAX's devices name it
  hbm_gib: float  # what the TPU compiler says a program may use ("available HBM")
  peak_bf16: float  # dense FLOP/s (Cloud TPU documentation)
  cores_in_name: int  # TensorCores per chip counted by the accelerator type's N
  dims: int  # torus dimensions
  chips_per_host: int  # of a multi-host slice
  single_host_max: int  # chips a one-host slice can have
  max_chips: int  # the largest slice Cloud TPU offers
  host_vcpus: int  # of a host with chips_per_host chips (Cloud TPU VM machine types)
  hbm_bandwidth: float  # bytes/s (Cloud TPU documentation)


# HBM: the compiler's own "available HBM" for a program (RESOURCE_EXHAUSTED messages of
# libtpu 0.0.42; the chips have 32 GiB, 95 GB, 16 GB and 32 GB). Peaks, the largest slices
# and host vCPUs (of a 4-chip host VM), HBM bandwidths: Cloud TPU documentation (system
# architecture pages, TPU VM machine types).
CHIPS = {
    "v4": Chip("v4", "TPU v4", 30.75, 275e12, 2, 3, 4, 4, 4096, 240, 1200e9),
    "v5p": Chip("v5p", "TPU v5", 95.74, 459e12, 2, 3, 4, 4, 6144, 208, 2765e9),
    "v5litepod": Chip("v5litepod", "TPU v5 lite", 15.75, 197e12, 1, 2, 4, 8, 256, 112, 819e9),
    "v6e": Chip("v6e", "TPU v6 lite", 31.25, 918e12, 1, 2, 4, 8, 256, 180, 1638e9),
}
_ALIASES = {"v5e": "v5litepod"}


@dataclasses.dataclass(frozen=True)
class Slice:
  name: str  # the accelerator type, e.g. v5p-128
  chip: Chip
  chips: int
  shape: tuple[int, ...]

  @property
  def hosts(self) -> int:
    if self.chips <= self.chip.single_host_max:
      return 1
    return self.chips // self.chip.chips_per_host

  @property
  def topology(self) -> str:
    """The compiler's topology name, e.g. v5p:4x4x4."""
    gen = {"v5litepod": "v5e"}.get(self.chip.generation, self.chip.generation)
    return f"{gen}:{'x'.join(map(str, self.shape))}"

  @property
  def hbm_bytes(self) -> int:
    return int(self.chip.hbm_gib * 2 ** 30)


def _shape(chips: int, dims: int) -> tuple[int, ...]:
  if dims == 2 and chips == 1:
    return (1, 1)
  shape = [2, 2, 1] if dims == 3 else [2, 2]
  while math.prod(shape) < chips:
    smallest = min(shape)
    i = max(j for j, s in enumerate(shape) if s == smallest)
    shape[i] *= 2
  return tuple(shape)


def parse(accelerator_type: str) -> Slice:
  """'v5p-128' -> its Slice (64 chips, 4x4x4); a clear error for anything else."""
  match = re.fullmatch(r"(v4|v5p|v5e|v5litepod|v6e)-(\d+)", accelerator_type.strip())
  known = ", ".join(f"{g}-N" for g in CHIPS)
  if not match:
    raise ConfigError(f"--topology={accelerator_type}: not a Cloud TPU accelerator type; "
                      f"give one of {known} (e.g. v5p-8, v6e-16)")
  chip = CHIPS[_ALIASES.get(match[1], match[1])]
  n = int(match[2])
  chips, rest = divmod(n, chip.cores_in_name)
  smallest = 4 if chip.dims == 3 else 1
  ok = (not rest and smallest <= chips <= chip.max_chips and chips & (chips - 1) == 0
        and (chip.dims == 3 or chips != 2))
  if not ok:
    largest = chip.max_chips * chip.cores_in_name
    sizes = ([chip.cores_in_name * 2 ** i for i in range(2, 5)] if chip.dims == 3
             else [1, 4, 8])
    raise ConfigError(f"--topology={accelerator_type}: {chip.generation} slices come in "
                      f"sizes {', '.join(map(str, sizes))}, ... (powers of two) up to "
                      f"{largest}; N counts "
                      f"{'TensorCores, two per chip' if chip.cores_in_name == 2 else 'chips'}")
  return Slice(f"{chip.generation}-{n}", chip, chips, _shape(chips, chip.dims))


def with_chips(generation: str, chips: int) -> Slice:
  """The slice of ``generation`` with ``chips`` chips (a power of two, at least the
  generation's smallest)."""
  chip = CHIPS[_ALIASES.get(generation, generation)]
  return parse(f"{chip.generation}-{chips * chip.cores_in_name}")


def libtpu_available() -> bool:
  try:
    import libtpu  # pylint: disable=import-outside-toplevel,unused-import
  except ImportError:
    return False
  return True


def require_libtpu():
  if not libtpu_available():
    raise ConfigError("compiling for a TPU slice needs libtpu, the TPU compiler: pip install "
                      "-e '.[tpu]' (it installs the libtpu matching the installed jax)")


def compile_only_environment(tpu_slice: Slice):
  """What libtpu reads when it loads on a machine without TPU chips: without these it probes
  for TPU hosts and prints errors; several compiling processes may load it at once (there
  are no chips to share). A TPU VM's own settings are left alone."""
  import hvg_jax  # pylint: disable=import-outside-toplevel
  if hvg_jax.tpu_chips_visible():
    return
  os.environ.setdefault("TPU_ACCELERATOR_TYPE", tpu_slice.name)
  os.environ.setdefault("TPU_WORKER_HOSTNAMES", "localhost")
  os.environ.setdefault("ALLOW_MULTIPLE_LIBTPU_LOAD", "1")


@functools.cache
def devices(name: str) -> list:
  """The compile-only devices of the slice ``name`` (every chip of every host), for a mesh
  whose programs compile with the real TPU compiler and are never run."""
  tpu_slice = parse(name)
  require_libtpu()
  compile_only_environment(tpu_slice)
  from jax.experimental import topologies  # pylint: disable=import-outside-toplevel
  kwargs = {}
  if tpu_slice.chip.cores_in_name == 2:
    kwargs["chip_config_name"] = "megacore"  # one JAX device per chip, as on the VMs
  if tpu_slice.hosts == 1:  # one host of 1, 4 or 8 chips (the default bounds are 2x2x1)
    kwargs["chips_per_host_bounds"] = tpu_slice.shape + (1,) * (3 - len(tpu_slice.shape))
  try:
    topology = topologies.get_topology_desc(platform="tpu",
                                            topology_name=tpu_slice.topology, **kwargs)
  except Exception as e:  # pylint: disable=broad-except (libtpu's errors have no one type)
    raise ConfigError(f"libtpu could not describe {tpu_slice.name} ({tpu_slice.topology}): "
                      f"{str(e).strip().splitlines()[0]}; is the installed libtpu the one "
                      "jax pins? pip install -e '.[tpu]'") from e
  out = list(topology.devices)
  if len(out) != tpu_slice.chips:
    raise ConfigError(f"libtpu gave {len(out)} devices for {tpu_slice.name} "
                      f"({tpu_slice.topology}), not its {tpu_slice.chips} chips: is the "
                      "installed libtpu the one jax pins? pip install -e '.[tpu]'")
  return out
