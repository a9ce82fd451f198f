"""Reads a PyTorch state dict (``torch.save(model.state_dict(), path)``) as NumPy arrays
without PyTorch and without executing pickled code.

A ``.pt`` file is a pickle: loading it with ``pickle`` (or ``torch.load`` without
``weights_only``) runs whatever callables it names. This reader resolves only the few
globals a dict of tensors needs (``OrderedDict``, the tensor rebuild functions, the storage
types) to local, side-effect-free stand-ins and refuses every other one. Both layouts are
read: the zip archive of torch >= 1.6 (``<name>/data.pkl`` + ``<name>/data/<key>``) and the
older stream (magic number, protocol, system info, the object, the storage keys, then each
storage as an int64 element count and its raw bytes).
"""

import collections
import io
import pickle
import struct
import zipfile

import numpy as np

from hvg_jax.errors import UserError

_LEGACY_MAGIC = 0x1950a86a20f9469cfc6c
_STORAGE_DTYPES = {
    "DoubleStorage": np.float64, "FloatStorage": np.float32, "HalfStorage": np.float16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
    "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
    "BFloat16Storage": "bfloat16",
}


class TorchFileError(UserError, ValueError):
  """The file is not a plain PyTorch state dict this reader can load safely."""


class _StorageType:
  def __init__(self, name):
    self.name = name
    dtype = _STORAGE_DTYPES[name]
    if dtype == "bfloat16":
      import ml_dtypes  # pylint: disable=g-import-not-at-top
      dtype = ml_dtypes.bfloat16
    self.dtype = np.dtype(dtype)


class _Storage:
  """A storage's elements, filled when its bytes are read (legacy files read them last)."""

  def __init__(self, dtype, numel):
    self.dtype, self.numel, self.data = dtype, numel, None


class _Tensor:
  """A tensor still waiting for its storage's bytes."""

  def __init__(self, storage, offset, size, stride):
    self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), stride

  def array(self) -> np.ndarray:
    data = self.storage.data
    if data is None:
      raise TorchFileError("a tensor's storage is missing from the file")
    # The file's own offset, sizes and strides must stay inside the storage: as_strided
    # does not check (a crafted file would read other memory).
    if (not isinstance(self.offset, int) or self.offset < 0
        or len(self.size) != len(self.stride)
        or any(not isinstance(v, int) or v < 0 for v in (*self.size, *self.stride))):
      raise TorchFileError("a tensor has a malformed offset, size or stride")
    if 0 not in self.size:
      last = self.offset + sum((n - 1) * st for n, st in zip(self.size, self.stride))
      if last >= len(data):
        raise TorchFileError("a tensor reaches beyond its storage")
    if not self.size:
      return np.array(data[self.offset])
    view = np.lib.stride_tricks.as_strided(
        data[self.offset:], self.size, [s * data.itemsize for s in self.stride])
    return np.array(view)


def _rebuild_tensor(storage, storage_offset, size, stride, *unused):
  del unused  # requires_grad, backward hooks, metadata
  if not isinstance(storage, _Storage):
    raise TorchFileError("a tensor is built on something other than a storage")
  return _Tensor(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad, backward_hooks, *unused):
  del requires_grad, backward_hooks, unused
  return data


_ALLOWED = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
}


class _Unpickler(pickle.Unpickler):

  def __init__(self, file, load_storage):
    super().__init__(file)
    self._load_storage = load_storage

  def find_class(self, module, name):
    if (module, name) in _ALLOWED:
      return _ALLOWED[(module, name)]
    if module == "torch" and name in _STORAGE_DTYPES:
      return _StorageType(name)
    raise TorchFileError(
        f"the file asks to run {module}.{name}, which a state dict of tensors never needs; "
        "refusing to load it (save the model's state_dict() instead of the model)")

  def persistent_load(self, pid):
    if not isinstance(pid, tuple) or not pid or pid[0] != "storage":
      raise TorchFileError(f"unsupported persistent object {pid!r:.80}")
    storage_type, key, numel = pid[1], str(pid[2]), pid[4]
    if not isinstance(storage_type, _StorageType):
      raise TorchFileError(f"unsupported storage type {storage_type!r:.80}")
    if len(pid) > 5 and pid[5] is not None:
      raise TorchFileError("storage views (files of torch < 0.4) are not supported")
    return self._load_storage(key, storage_type.dtype, numel)


def _materialise(obj):
  if isinstance(obj, _Tensor):
    return obj.array()
  if isinstance(obj, dict):
    return {k: _materialise(v) for k, v in obj.items()}
  if isinstance(obj, (list, tuple)):
    return type(obj)(_materialise(v) for v in obj)
  return obj


def _read_zip(path):
  with zipfile.ZipFile(path) as archive:
    names = archive.namelist()
    pickles = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
    if not pickles:
      raise TorchFileError(f"{path} is a zip file without data.pkl: not a torch.save file")
    prefix = pickles[0][:-len("data.pkl")]
    byteorder = "little"
    if prefix + "byteorder" in names:
      byteorder = archive.read(prefix + "byteorder").decode().strip()

    def load_storage(key, dtype, numel):
      storage = _Storage(dtype, numel)
      raw = archive.read(f"{prefix}data/{key}")
      storage.data = np.frombuffer(raw, dtype.newbyteorder("<" if byteorder == "little"
                                                            else ">"), count=numel)
      return storage

    obj = _Unpickler(io.BytesIO(archive.read(pickles[0])), load_storage).load()
    return _materialise(obj)


def _read_legacy(path):
  with open(path, "rb") as f:
    def plain_load():
      return _Unpickler(f, lambda *a: (_ for _ in ()).throw(
          TorchFileError("unexpected storage in the file header"))).load()
    try:
      magic = plain_load()
    except (pickle.UnpicklingError, EOFError, ValueError) as e:
      if isinstance(e, TorchFileError):
        raise
      raise TorchFileError(f"{path} is neither a zip nor a legacy torch.save file ({e})") \
          from None
    if magic != _LEGACY_MAGIC:
      raise TorchFileError(f"{path} is not a torch.save file (no magic number)")
    plain_load()  # protocol version
    plain_load()  # system info (byte order, sizes)
    storages = {}

    def load_storage(key, dtype, numel):
      if key not in storages:
        storages[key] = _Storage(dtype, numel)
      return storages[key]

    obj = _Unpickler(f, load_storage).load()
    keys = plain_load()
    for key in keys:
      storage = storages[str(key)]
      (numel,) = struct.unpack("<q", f.read(8))
      raw = f.read(numel * storage.dtype.itemsize)
      if len(raw) != numel * storage.dtype.itemsize:
        raise TorchFileError(f"{path} is truncated (storage {key})")
      storage.data = np.frombuffer(raw, storage.dtype.newbyteorder("<"), count=numel)
    return _materialise(obj)


def read_state_dict(path) -> dict[str, np.ndarray]:
  """{name: array} of the state dict in ``path``. A dict wrapping it under "state_dict"
  or "model", and the "module." prefix of DataParallel, are taken off."""
  path = str(path)
  try:
    obj = _read_zip(path) if zipfile.is_zipfile(path) else _read_legacy(path)
  except TorchFileError:
    raise
  except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError, IndexError,
          AttributeError, struct.error, zipfile.BadZipFile) as e:
    raise TorchFileError(f"{path} is not a readable torch.save file of tensors "
                         f"({type(e).__name__}: {e})") from None
  for wrapper in ("state_dict", "model"):
    if isinstance(obj, dict) and isinstance(obj.get(wrapper), dict):
      obj = obj[wrapper]
  if not isinstance(obj, dict) or not all(isinstance(v, np.ndarray) for v in obj.values()):
    raise TorchFileError(f"{path} does not hold a state dict of tensors")
  return {k.removeprefix("module."): v for k, v in obj.items()}
