"""Reads a pickle of nested dicts of NumPy arrays without executing pickled code.

``pickle.load`` calls whatever the file names (``os.system``, ``builtins.eval``, any
function of any module). A dict of arrays needs only NumPy's array reconstruction: this
reader resolves ``ndarray``, ``dtype`` and the two functions NumPy pickles arrays with
(``_reconstruct``, and ``_frombuffer`` for protocol 5) and refuses every other global
before anything is called. What it returns is checked too: dicts with string keys whose
leaves are numeric arrays. The same standard as the ``.pt`` reader (torch_file).
"""

import pickle
import struct

import numpy as np

from hvg_jax.errors import UserError


class PickleFileError(UserError, ValueError):
  """The file is not a plain pickle of nested dicts of numeric arrays."""


# NumPy's own reconstruction functions, taken from how it pickles an array (their module
# moved from numpy.core to numpy._core in NumPy 2; files name either).
_RECONSTRUCT = np.zeros(1).__reduce__()[0]
_FROMBUFFER = np.zeros(1).__reduce_ex__(5)[0]
_ALLOWED = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy.core.numeric", "_frombuffer"): _FROMBUFFER,
    ("numpy._core.numeric", "_frombuffer"): _FROMBUFFER,
}


class _Unpickler(pickle.Unpickler):

  def find_class(self, module, name):
    if (module, name) in _ALLOWED:
      return _ALLOWED[(module, name)]
    raise PickleFileError(
        f"the file asks to run {module}.{name}, which a pickle of NumPy arrays never needs; "
        "refusing to load it")

  def persistent_load(self, pid):
    raise PickleFileError(f"unsupported persistent object {pid!r:.80}")


def _check(tree, path="") -> None:
  if isinstance(tree, dict):
    for key, value in tree.items():
      if not isinstance(key, str):
        raise PickleFileError(f"a key of {path or 'the top level'} is {type(key).__name__}, "
                              "not a string")
      _check(value, f"{path}/{key}")
  elif not isinstance(tree, np.ndarray) or tree.dtype.kind not in "biuf":
    raise PickleFileError(f"{path or 'the file'} holds {type(tree).__name__}"
                          f"{' of ' + str(tree.dtype) if isinstance(tree, np.ndarray) else ''}"
                          ", not a numeric array")


def read(path) -> dict:
  """The nested dicts of arrays pickled in ``path``."""
  try:
    with open(path, "rb") as f:
      tree = _Unpickler(f).load()
  except PickleFileError:
    raise
  except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError, IndexError,
          AttributeError, MemoryError, struct.error) as e:
    raise PickleFileError(f"{path} is not a readable pickle of arrays "
                          f"({type(e).__name__}: {str(e)[:200]})") from None
  if not isinstance(tree, dict):
    raise PickleFileError(f"{path} holds a {type(tree).__name__}, not a dict of arrays")
  _check(tree)
  return tree


def flatten(tree: dict, prefix: str = "") -> dict[str, np.ndarray]:
  """{"a/b/c": array} of nested dicts."""
  out = {}
  for key, value in tree.items():
    name = f"{prefix}{key}"
    if isinstance(value, dict):
      out.update(flatten(value, name + "/"))
    else:
      out[name] = value
  return out
