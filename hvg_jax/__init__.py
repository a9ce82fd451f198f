"""hvg_jax: hierarchical video GANs (HVG / CVG / SSW-GAN, DVD-GAN baseline) in JAX."""

import os

# imageio-ffmpeg starts ffmpeg with preexec_fn=os.setpgrp unless this is set: Python code
# in the child between fork and exec, which can hang forever in a multithreaded process
# (JAX's and the data loader's threads). Seen here: a training run stuck at its step-6
# sample, the forked child waiting on a lock (imageio-ffmpeg's issue #58 is the same hang).
# Without it ffmpeg shares our process group: a Ctrl-C stops it with the run.
os.environ.setdefault("IMAGEIO_FFMPEG_NO_PREVENT_SIGINT", "1")


def tpu_chips_visible() -> bool:
  """A TPU chip on the PCI bus (Google's vendor id: JAX's own check)."""
  import glob  # pylint: disable=import-outside-toplevel
  for vendor in glob.glob("/sys/bus/pci/devices/*/vendor"):
    try:
      with open(vendor, encoding="ascii") as f:
        if f.read().strip() == "0x1ae0":
          return True
    except OSError:
      continue
  return False


def _platforms_without_tpu() -> str:
  """JAX_PLATFORMS for this machine without its TPU backend: the GPUs' where a GPU and
  JAX's plugin for it are both there, and the CPU."""
  import glob  # pylint: disable=import-outside-toplevel
  import pkgutil  # pylint: disable=import-outside-toplevel
  for devices, plugin, platform in (("/dev/nvidia[0-9]*", "jax_cuda", "cuda"),
                                    ("/dev/kfd", "jax_rocm", "rocm")):
    if glob.glob(devices) and any(m.name.startswith(plugin) for m in pkgutil.iter_modules()):
      return f"{platform},cpu"
  return "cpu"


def _keep_libtpu_off_machines_without_tpus():
  """libtpu (the ``tpu`` extra: TPU VMs, and sizing for TPU slices anywhere) makes JAX start
  its TPU backend on every machine: without TPU chips that prints libtpu's errors about
  missing TPU hosts on every command and slows its start. There JAX is given the platforms
  the machine has (the GPUs', the CPU); compiling for a TPU topology needs no TPU backend.
  JAX_PLATFORMS, where set, wins."""
  import importlib.util  # pylint: disable=import-outside-toplevel
  if "JAX_PLATFORMS" in os.environ or importlib.util.find_spec("libtpu") is None:
    return
  if tpu_chips_visible():
    return
  platforms = _platforms_without_tpu()
  os.environ["JAX_PLATFORMS"] = platforms
  import sys  # pylint: disable=import-outside-toplevel
  if "jax" in sys.modules:  # imported before us: its config still decides, until first use
    sys.modules["jax"].config.update("jax_platforms", platforms)


_keep_libtpu_off_machines_without_tpus()
