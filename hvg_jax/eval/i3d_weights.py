"""The I3D weights file of this project, and converters to it.

The file is a NumPy ``.npz`` of float32 arrays named ``<layer>/<array>`` after the DeepMind
layer names (:meth:`I3D.units`): ``w`` (kernel, T x H x W x in x out), ``b`` (the logits'
bias), ``bn/{scale,bias,mean,var}``; plus ``meta/num_classes`` and ``meta/width_scale``.
Loading checks every name and shape against the network and fails on any mismatch.

Converters:
- PyTorch: the ``i3d_pretrained_400.pt`` state dict used by most FVD code (piergiaj's
  ``InceptionI3d``: ``Conv3d_1a_7x7.conv3d.weight``, ``Mixed_3b.b1a.bn.running_mean``,
  ``logits.conv3d.bias``, ...), read without executing pickled code (torch_file). It was
  converted from the TF-Hub variables (BatchNorm weight = 1); the VideoGPT/TATS copies of
  that code run its BatchNorm with epsilon 1e-5, this network with TensorFlow's 1e-3 as the
  reference protocol does.
- TensorFlow: the DeepMind kinetics-i3d checkpoint inside the TF-Hub module
  ``deepmind/i3d-kinetics-400/1`` (``<module>/variables/variables``; names
  ``RGB/inception_i3d/Conv3d_1a_7x7/conv_3d/w``, ``.../batch_norm/{beta,moving_mean,
  moving_variance}``; Sonnet's BatchNorm has no scale).
"""

import logging
import os

import jax
import numpy as np
from flax import nnx

from hvg_jax.eval import i3d as i3d_lib
from hvg_jax.eval import torch_file

FORMAT_HELP = (
    "Convert the Kinetics-400 I3D once with `python -m hvg_jax.convert_i3d "
    "--pytorch=i3d_pretrained_400.pt --output=i3d_kinetics400.npz` (the state dict used by "
    "most FVD code) or `--tensorflow=<the extracted TF-Hub module deepmind/i3d-kinetics-400/1>`, "
    "then pass --i3d_weights=i3d_kinetics400.npz (config.eval.i3d_weights).")
_BN = ("scale", "bias", "mean", "var")


class WeightsError(ValueError):
  """A weights file or checkpoint does not match the I3D network."""


class MissingWeightsError(FileNotFoundError):
  """No I3D weights file where one was named (or none named)."""


def _abstract(num_classes: int, width_scale: float = 1.0) -> i3d_lib.I3D:
  return nnx.eval_shape(lambda: i3d_lib.I3D(num_classes, width_scale=width_scale,
                                            rngs=nnx.Rngs(0)))


def expected_shapes(num_classes: int = 400, width_scale: float = 1.0) -> dict[str, tuple]:
  """{name: shape} of every array the weights file of such a network holds."""
  return {k: tuple(v.shape) for k, v in _unit_arrays(_abstract(num_classes,
                                                               width_scale)).items()}


def unit_names(num_classes: int = 400) -> list[str]:
  return [name for name, _ in _abstract(num_classes).units()]


def _unit_arrays(model) -> dict:
  out = {}
  for name, unit in model.units():
    out[f"{name}/w"] = unit.conv.kernel.get_value()
    if unit.bn is None:
      out[f"{name}/b"] = unit.conv.bias.get_value()
    else:
      for field in _BN:
        out[f"{name}/bn/{field}"] = getattr(unit.bn, field).get_value()
  return out


def check_arrays(arrays: dict, num_classes: int, width_scale: float, source: str):
  """Raises WeightsError naming every missing, unexpected and misshapen array."""
  expected = expected_shapes(num_classes, width_scale)
  missing = sorted(set(expected) - set(arrays))
  unexpected = sorted(set(arrays) - set(expected))
  misshapen = [f"{k}: {tuple(np.shape(arrays[k]))}, expected {expected[k]}"
               for k in sorted(set(expected) & set(arrays))
               if tuple(np.shape(arrays[k])) != expected[k]]
  problems = []
  for label, items in (("missing", missing), ("unexpected", unexpected),
                       ("wrong shape", misshapen)):
    if items:
      problems.append(f"{len(items)} {label} ({'; '.join(items[:4])}"
                      f"{'; ...' if len(items) > 4 else ''})")
  if problems:
    raise WeightsError(f"{source} does not match the I3D of {num_classes} classes: "
                       + ", ".join(problems))


def save(path, arrays: dict, *, num_classes: int, width_scale: float = 1.0):
  """Writes ``arrays`` (checked) as this project's weights file."""
  check_arrays(arrays, num_classes, width_scale, "the converted weights")
  meta = {"meta/num_classes": np.asarray(num_classes),
          "meta/width_scale": np.asarray(width_scale)}
  with open(path, "wb") as f:  # np.savez would append .npz to a name without it
    np.savez(f, **{k: np.asarray(v, np.float32) for k, v in arrays.items()}, **meta)


def model_arrays(model: i3d_lib.I3D) -> dict[str, np.ndarray]:
  """The arrays of a (Flax) I3D, as the weights file names them."""
  return {k: np.asarray(v) for k, v in _unit_arrays(model).items()}


def load(path) -> i3d_lib.I3D:
  """The I3D with the weights of this project's file ``path``, checked name by name."""
  if not path:
    raise MissingWeightsError(f"FVD, FID and IS need the I3D's weights. {FORMAT_HELP}")
  if not os.path.exists(path):
    raise MissingWeightsError(f"no I3D weights file at {path}. {FORMAT_HELP}")
  try:
    with np.load(path) as f:
      arrays = {k: f[k] for k in f.files}
  except (OSError, ValueError) as e:
    raise WeightsError(f"{path} is not an I3D weights file of this project ({e}). "
                       f"{FORMAT_HELP}") from None
  if "meta/num_classes" not in arrays:
    raise WeightsError(f"{path} has no meta/num_classes: not written by "
                       f"hvg_jax.convert_i3d. {FORMAT_HELP}")
  num_classes = int(arrays.pop("meta/num_classes"))
  width_scale = float(arrays.pop("meta/width_scale", 1.0))
  check_arrays(arrays, num_classes, width_scale, path)
  if width_scale != 1.0:
    logging.warning("%s is a narrowed I3D (width_scale %g, for tests): its FVD, FID and IS "
                    "are not comparable with published numbers.", path, width_scale)
  model = i3d_lib.I3D(num_classes, width_scale=width_scale, rngs=nnx.Rngs(0))
  for name, unit in model.units():
    unit.conv.kernel[...] = jax.numpy.asarray(arrays[f"{name}/w"])
    if unit.bn is None:
      unit.conv.bias[...] = jax.numpy.asarray(arrays[f"{name}/b"])
    else:
      for field in _BN:
        getattr(unit.bn, field)[...] = jax.numpy.asarray(arrays[f"{name}/bn/{field}"])
  return model


# PyTorch (piergiaj's InceptionI3d) ------------------------------------------------------

_TORCH_BRANCHES = dict(zip((name for name, _ in i3d_lib.BRANCHES),
                           ("b0", "b1a", "b1b", "b2a", "b2b", "b3b")))


def _torch_unit(name: str) -> str:
  if name == i3d_lib.LOGITS:
    return "logits"
  block, _, branch = name.partition("/")
  return f"{block}.{_TORCH_BRANCHES[branch]}" if branch else block


def from_pytorch(state_dict: dict, source: str = "the state dict") -> tuple[dict, int]:
  """(arrays, num_classes) from the I3D state dict of piergiaj's pytorch-i3d."""
  try:
    num_classes = int(state_dict["logits.conv3d.bias"].shape[0])
  except KeyError:
    raise WeightsError(f"{source} has no logits.conv3d.bias: not the state dict of "
                       "pytorch-i3d's InceptionI3d") from None
  used, arrays = set(), {}

  def take(key):
    if key not in state_dict:
      raise WeightsError(f"{source} has no {key}: not the state dict of pytorch-i3d's "
                         "InceptionI3d")
    used.add(key)
    return np.asarray(state_dict[key], np.float32)

  for name in unit_names(num_classes):
    prefix = _torch_unit(name)
    arrays[f"{name}/w"] = take(f"{prefix}.conv3d.weight").transpose(2, 3, 4, 1, 0)
    if name == i3d_lib.LOGITS:
      arrays[f"{name}/b"] = take(f"{prefix}.conv3d.bias")
    else:
      for field, key in zip(_BN, ("weight", "bias", "running_mean", "running_var")):
        arrays[f"{name}/bn/{field}"] = take(f"{prefix}.bn.{key}")
  unused = sorted(k for k in set(state_dict) - used if not k.endswith("num_batches_tracked"))
  if unused:
    raise WeightsError(f"{source} has {len(unused)} tensors the I3D does not use "
                       f"({', '.join(unused[:4])}): not pytorch-i3d's InceptionI3d")
  check_arrays(arrays, num_classes, 1.0, source)
  return arrays, num_classes


def read_pytorch(path) -> tuple[dict, int]:
  return from_pytorch(torch_file.read_state_dict(path), str(path))


# TensorFlow (DeepMind's kinetics-i3d, as in the TF-Hub module) ---------------------------

def _tf_checkpoint_prefix(path: str) -> str:
  for candidate in (os.path.join(path, "variables", "variables"), path):
    if os.path.exists(candidate + ".index"):
      return candidate
  raise WeightsError(f"{path} is neither an extracted TF-Hub module (with "
                     "variables/variables.index) nor a TensorFlow checkpoint prefix")


def from_tensorflow(variables: dict, source: str = "the checkpoint") -> tuple[dict, int]:
  """(arrays, num_classes) from DeepMind kinetics-i3d variables {name: array} (any scope
  before the layer names, e.g. RGB/inception_i3d/)."""
  stem_key = f"{i3d_lib.STEM[0]}/conv_3d/w"
  scopes = [k[:-len(stem_key)] for k in variables if k.endswith(stem_key)]
  if len(scopes) != 1:
    raise WeightsError(f"{source} has {len(scopes)} variables named .../{stem_key}; "
                       "expected exactly one (the RGB I3D)")
  scope = scopes[0]
  used, arrays = set(), {}

  def take(name, array_name, alternatives=()):
    for candidate in (name, *alternatives):
      key = f"{scope}{candidate}/{array_name}"
      if key in variables:
        used.add(key)
        return np.asarray(variables[key], np.float32)
    raise WeightsError(f"{source} has no {scope}{name}/{array_name}")

  num_classes = int(np.shape(variables.get(f"{scope}{i3d_lib.LOGITS}/conv_3d/b", [0]))[0])
  for name in unit_names(max(num_classes, 1)):
    # DeepMind's code names Mixed_5b's second branch-2 conv Conv3d_0a_3x3 (sic).
    typo = (name.replace("Conv3d_0b_3x3", "Conv3d_0a_3x3"),) if "Branch_2" in name else ()
    arrays[f"{name}/w"] = take(name, "conv_3d/w", typo)
    if name == i3d_lib.LOGITS:
      arrays[f"{name}/b"] = take(name, "conv_3d/b")
      continue
    # Sonnet keeps (1, 1, 1, 1, C) statistics, and no scale by default.
    beta = take(name, "batch_norm/beta", typo).reshape(-1)
    gamma_key = f"{scope}{name}/batch_norm/gamma"
    arrays[f"{name}/bn/scale"] = (take(name, "batch_norm/gamma").reshape(-1)
                                  if gamma_key in variables else np.ones_like(beta))
    arrays[f"{name}/bn/bias"] = beta
    arrays[f"{name}/bn/mean"] = take(name, "batch_norm/moving_mean", typo).reshape(-1)
    arrays[f"{name}/bn/var"] = take(name, "batch_norm/moving_variance", typo).reshape(-1)
  check_arrays(arrays, num_classes, 1.0, source)
  ignored = [k for k in variables if k.startswith(scope) and k not in used]
  if ignored:
    raise WeightsError(f"{source} has {len(ignored)} I3D variables this network does not "
                       f"use ({', '.join(sorted(ignored)[:4])})")
  return arrays, num_classes


def read_tensorflow(path) -> tuple[dict, int]:
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  prefix = _tf_checkpoint_prefix(str(path))
  reader = tf.train.load_checkpoint(prefix)
  variables = {k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map()}
  return from_tensorflow(variables, prefix)
