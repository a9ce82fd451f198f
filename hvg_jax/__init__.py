"""hvg_jax: hierarchical video GANs (HVG / CVG / SSW-GAN, DVD-GAN baseline) in JAX."""

import os

# imageio-ffmpeg starts ffmpeg with preexec_fn=os.setpgrp unless this is set: Python code
# in the child between fork and exec, which can hang forever in a multithreaded process
# (JAX's and the data loader's threads). Seen here: a training run stuck at its step-6
# sample, the forked child waiting on a lock (imageio-ffmpeg's issue #58 is the same hang).
# Without it ffmpeg shares our process group: a Ctrl-C stops it with the run.
os.environ.setdefault("IMAGEIO_FFMPEG_NO_PREVENT_SIGINT", "1")


def _no_accelerator_visible() -> bool:
  """No TPU chip on the PCI bus (Google's vendor id, as JAX's own check), no NVIDIA or AMD
  GPU device file."""
  import glob  # pylint: disable=import-outside-toplevel
  for vendor in glob.glob("/sys/bus/pci/devices/*/vendor"):
    try:
      with open(vendor, encoding="ascii") as f:
        if f.read().strip() == "0x1ae0":
          return False
    except OSError:
      continue
  return not (glob.glob("/dev/nvidia[0-9]*") or os.path.exists("/dev/kfd"))


def _keep_libtpu_off_machines_without_accelerators():
  """libtpu (the ``tpu`` extra: TPU VMs, and sizing for TPU slices anywhere) makes JAX start
  its TPU backend on every machine: without TPUs that prints libtpu's errors about missing
  TPU hosts on every command (and takes seconds). Where no accelerator is visible JAX is
  told to use the CPU; compiling for a TPU topology works without the TPU backend.
  JAX_PLATFORMS, where set, wins."""
  import importlib.util  # pylint: disable=import-outside-toplevel
  if "JAX_PLATFORMS" in os.environ or importlib.util.find_spec("libtpu") is None:
    return
  if not _no_accelerator_visible():
    return
  os.environ["JAX_PLATFORMS"] = "cpu"
  import sys  # pylint: disable=import-outside-toplevel
  if "jax" in sys.modules:  # imported before us: its config still decides, until first use
    sys.modules["jax"].config.update("jax_platforms", "cpu")


_keep_libtpu_off_machines_without_accelerators()
