"""Which accelerator a run needs: ``--platform``, checked before anything compiles.

A GPU machine whose JAX is the CPU build (``pip install -e .`` without the ``cuda12`` /
``cuda13`` extra), or a TPU VM whose libtpu failed to load, would otherwise train on the
host's CPU without a word. The launch scripts pass ``--platform=gpu`` or ``--platform=tpu``;
``any`` (the default) accepts whatever JAX found.
"""

import jax
from absl import flags

from hvg_jax.errors import UserError

_PLATFORM = flags.DEFINE_enum(
    "platform", "any", ["any", "cpu", "gpu", "tpu"],
    "The accelerator the run needs; it stops at once if JAX finds another (the launch "
    "scripts set it). any: whatever JAX finds.")

_FIX = {
    "gpu": "install JAX's CUDA build: pip install -e '.[cuda13]' (CUDA 13 drivers) or "
           "'.[cuda12]', or run in NVIDIA's JAX container (launch/gpu/slurm.sh "
           "--container_image=...); nvidia-smi must list the GPUs",
    "tpu": "run on a TPU VM with JAX's TPU build: pip install -e '.[tpu]' "
           "(launch/tpu/setup.sh installs it on every worker)",
    "cpu": "give --platform=any to use the accelerator, or hide it (JAX_PLATFORMS=cpu)",
}


class PlatformError(UserError, RuntimeError):
  """The run needs another platform than the one JAX found."""


def found() -> str:
  """The platform of JAX's default devices: cpu, gpu or tpu."""
  return jax.default_backend().replace("cuda", "gpu").replace("rocm", "gpu")


def check(needed: str | None = None):
  """Raises PlatformError unless JAX's devices are ``needed`` (default: --platform)."""
  needed = _PLATFORM.value if needed is None else needed
  if needed == "any":
    return
  have = found()
  if have != needed:
    devices = jax.devices()
    raise PlatformError(
        f"--platform={needed}: this run needs {needed.upper()}s but JAX found "
        f"{len(devices)} {have.upper()} device(s) ({devices[0].device_kind}); {_FIX[needed]}")
