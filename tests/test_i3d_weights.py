"""The I3D weight converters: PyTorch's i3d_pretrained_400.pt layout (against PyTorch
itself), the TF-Hub variables, the safe .pt reader and the checks of the weights file."""

import collections
import os
import subprocess
import sys

import jax
import numpy as np
import pytest
import torch

from conftest import PYTHON, REPO, subprocess_env
from hvg_jax.eval import i3d_weights, torch_file

sys.path.insert(0, str(REPO / "tests" / "helpers"))
import torch_i3d  # pylint: disable=g-import-not-at-top,wrong-import-position


@pytest.fixture(scope="module")
def torch_model():
  return torch_i3d.randomize(torch_i3d.InceptionI3d(400), seed=0)


@pytest.fixture(scope="module")
def pt_file(torch_model, tmp_path_factory):
  path = tmp_path_factory.mktemp("i3d") / "i3d_pretrained_400.pt"
  torch.save(torch_model.state_dict(), path)
  return path


@pytest.fixture(scope="module")
def converted(pt_file, tmp_path_factory):
  """The weights file written by the converter command, as a user runs it."""
  out = tmp_path_factory.mktemp("converted") / "i3d_kinetics400.npz"
  result = subprocess.run([PYTHON, "-m", "hvg_jax.convert_i3d", f"--pytorch={pt_file}",
                           f"--output={out}"], capture_output=True, text=True,
                          env=subprocess_env(), cwd=REPO, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  return out


def _torch_endpoints(model, x, last):
  with torch.no_grad():
    out = model.endpoints(torch.from_numpy(x.transpose(0, 4, 1, 2, 3)), last)
  return {k: v.numpy().transpose(0, 2, 3, 4, 1) for k, v in out.items()}


def test_converted_pytorch_weights_give_pytorchs_activations(torch_model, converted, rng):
  """Stem, pools and the first two Inception blocks on odd sizes (TF SAME padding at both
  ends): Flax with converted weights == PyTorch's InceptionI3d."""
  model = i3d_weights.load(converted)
  x = rng.uniform(-1, 1, size=(2, 10, 37, 29, 3)).astype(np.float32)
  ours = model.endpoints(x, "Mixed_3c")
  reference = _torch_endpoints(torch_model, x, "Mixed_3c")
  assert list(ours) == list(reference)
  for name in ("Conv3d_1a_7x7", "MaxPool3d_2a_3x3", "Conv3d_2c_3x3", "Mixed_3b", "Mixed_3c"):
    a, b = np.asarray(ours[name]), reference[name]
    assert a.shape == b.shape, name
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4 * np.abs(b).max(), err_msg=name)
  assert np.abs(reference["Mixed_3c"]).max() > 0.1  # not a trivially small signal


def test_converted_network_gives_pytorchs_logits(torch_model, converted, rng):
  """The whole network at its smallest valid input (9 frames of 193x193): logits and the
  pooled features as PyTorch computes them."""
  model = i3d_weights.load(converted)
  x = rng.uniform(-1, 1, size=(1, 9, 193, 193, 3)).astype(np.float32)
  ours = model(x)
  with torch.no_grad():
    logits = torch_model(torch.from_numpy(x.transpose(0, 4, 1, 2, 3))).numpy()
    pooled = torch_model.avg_pool(torch_model.endpoints(
        torch.from_numpy(x.transpose(0, 4, 1, 2, 3)), "Mixed_5c")["Mixed_5c"])
  np.testing.assert_allclose(ours["logits"], logits, rtol=1e-3, atol=1e-3 * np.abs(logits).max())
  np.testing.assert_allclose(ours["features"], pooled.numpy().mean(axis=(2, 3, 4)),
                             rtol=1e-3, atol=1e-4)
  with pytest.raises(ValueError, match="at least 9 frames"):
    model(x[:, :8])


def test_legacy_pt_files_read_the_same(torch_model, tmp_path):
  sd = torch_model.state_dict()
  torch.save(sd, tmp_path / "legacy.pt", _use_new_zipfile_serialization=False)
  got = torch_file.read_state_dict(tmp_path / "legacy.pt")
  assert set(got) == set(sd)
  for k in ("Conv3d_1a_7x7.conv3d.weight", "Mixed_5c.b3b.bn.running_var", "logits.conv3d.bias"):
    np.testing.assert_array_equal(got[k], sd[k].numpy())


def test_pt_files_never_run_pickled_code(tmp_path):
  marker = tmp_path / "ran"

  class Payload:
    def __reduce__(self):
      return (os.system, (f"touch {marker}",))

  torch.save({"Conv3d_1a_7x7.conv3d.weight": Payload()}, tmp_path / "evil.pt")
  with pytest.raises(torch_file.TorchFileError, match="posix.system"):
    torch_file.read_state_dict(tmp_path / "evil.pt")
  assert not marker.exists()
  torch.save(torch.nn.Linear(2, 2), tmp_path / "module.pt")  # a pickled module, not weights
  with pytest.raises(torch_file.TorchFileError, match="state_dict"):
    torch_file.read_state_dict(tmp_path / "module.pt")


def test_pt_files_cannot_read_beyond_their_storage(tmp_path):
  """A crafted tensor whose size and stride reach past its storage is refused (as_strided
  would otherwise copy other memory into the weights); garbage is a TorchFileError."""

  class Overreaching:
    def __reduce__(self):
      storage = torch.zeros(4).storage()  # pickled as a 4-element FloatStorage
      return (torch._utils._rebuild_tensor_v2,  # pylint: disable=protected-access
              (storage, 0, (100000,), (1000,), False, collections.OrderedDict()))

  torch.save({"w": Overreaching()}, tmp_path / "crafted.pt")
  with pytest.raises(torch_file.TorchFileError, match="beyond its storage"):
    torch_file.read_state_dict(tmp_path / "crafted.pt")
  (tmp_path / "garbage.pt").write_bytes(b"\x80\x02garbage")
  with pytest.raises(torch_file.TorchFileError):
    torch_file.read_state_dict(tmp_path / "garbage.pt")


def test_every_name_and_shape_is_checked(torch_model):
  sd = {k: v.numpy() for k, v in torch_model.state_dict().items()}
  missing = dict(sd)
  del missing["Mixed_4c.b2b.bn.running_mean"]
  with pytest.raises(i3d_weights.WeightsError, match=r"Mixed_4c\.b2b\.bn\.running_mean"):
    i3d_weights.from_pytorch(missing)
  extra = dict(sd, **{"Mixed_6a.b0.conv3d.weight": np.zeros(3, np.float32)})
  with pytest.raises(i3d_weights.WeightsError, match="Mixed_6a"):
    i3d_weights.from_pytorch(extra)
  wrong = dict(sd)
  wrong["Mixed_3b.b1b.conv3d.weight"] = np.zeros((128, 96, 1, 3, 3), np.float32)
  with pytest.raises(i3d_weights.WeightsError,
                     match=r"Mixed_3b/Branch_1/Conv3d_0b_3x3/w: \(1, 3, 3, 96, 128\)"):
    i3d_weights.from_pytorch(wrong)


def test_weights_file_is_checked_on_load(converted, tmp_path):
  with np.load(converted) as f:
    arrays = {k: f[k] for k in f.files}
  del arrays["Mixed_5c/Branch_3/Conv3d_0b_1x1/bn/var"]
  np.savez(tmp_path / "broken.npz", **arrays)
  with pytest.raises(i3d_weights.WeightsError, match="1 missing.*Mixed_5c/Branch_3"):
    i3d_weights.load(tmp_path / "broken.npz")
  with pytest.raises(i3d_weights.MissingWeightsError, match="convert_i3d --pytorch="):
    i3d_weights.load(tmp_path / "nowhere.npz")


def test_each_load_is_a_network_of_its_own(converted):
  """The traced shapes are kept once per process: two loads share no array, and the kept
  network stays shapes only."""
  a, b = i3d_weights.load(converted), i3d_weights.load(converted)
  leaves_a, leaves_b = jax.tree.leaves(a), jax.tree.leaves(b)
  assert len(leaves_a) == len(leaves_b) > 100
  assert not any(x is y for x, y in zip(leaves_a, leaves_b))
  assert all(isinstance(x, jax.ShapeDtypeStruct)
             for x in jax.tree.leaves(i3d_weights._abstract(400)))  # pylint: disable=protected-access


def _deepmind_variables(sd, scope="RGB/inception_i3d/"):
  """The TF-Hub module's variables holding the same weights (DeepMind names and layouts:
  DHWIO kernels, (1, 1, 1, 1, C) statistics, no BatchNorm scale, Mixed_5b's typo)."""
  branches = {"b0": "Branch_0/Conv3d_0a_1x1", "b1a": "Branch_1/Conv3d_0a_1x1",
              "b1b": "Branch_1/Conv3d_0b_3x3", "b2a": "Branch_2/Conv3d_0a_1x1",
              "b2b": "Branch_2/Conv3d_0b_3x3", "b3b": "Branch_3/Conv3d_0b_1x1"}
  out = {}
  for key, value in sd.items():
    parts = key.split(".")
    if parts[-1] == "num_batches_tracked" or parts[-1] == "weight" and parts[-2] == "bn":
      continue
    if parts[0] == "logits":
      unit = "Logits/Conv3d_0c_1x1"
    elif parts[0].startswith("Mixed"):
      unit = f"{parts[0]}/{branches[parts[1]]}"
      if unit == "Mixed_5b/Branch_2/Conv3d_0b_3x3":
        unit = "Mixed_5b/Branch_2/Conv3d_0a_3x3"
    else:
      unit = parts[0]
    leaf = {"weight": "conv_3d/w", "bias": "conv_3d/b"} if parts[-2] == "conv3d" else {
        "bias": "batch_norm/beta", "running_mean": "batch_norm/moving_mean",
        "running_var": "batch_norm/moving_variance"}
    array = value.numpy()
    array = array.transpose(2, 3, 4, 1, 0) if array.ndim == 5 else (
        array if parts[-2] == "conv3d" else array.reshape(1, 1, 1, 1, -1))
    out[f"{scope}{unit}/{leaf[parts[-1]]}"] = array
  return out


def test_tensorflow_hub_variables_convert_to_the_same_weights(torch_model, tmp_path):
  """A TF1 checkpoint with the TF-Hub module's variable names converts to the arrays the
  PyTorch file gives (BatchNorm scale 1: Sonnet has none)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  sd = {k: v.clone() for k, v in torch_model.state_dict().items()}
  for k in sd:
    if k.endswith("bn.weight"):
      sd[k] = torch.ones_like(sd[k])
  variables = _deepmind_variables(sd)
  assert len(variables) == 230  # as in the TF-Hub module's index
  module = tmp_path / "i3d-kinetics-400_1"
  (module / "variables").mkdir(parents=True)
  graph = tf.Graph()
  with graph.as_default():
    tf_vars = [tf.compat.v1.Variable(v, name=k) for k, v in variables.items()]
    saver = tf.compat.v1.train.Saver(tf_vars)
    with tf.compat.v1.Session(graph=graph) as session:
      session.run(tf.compat.v1.global_variables_initializer())
      saver.save(session, str(module / "variables" / "variables"), write_meta_graph=False)
  got, classes = i3d_weights.read_tensorflow(module)
  expected, _ = i3d_weights.from_pytorch({k: v.numpy() for k, v in sd.items()})
  assert classes == 400 and set(got) == set(expected)
  for k in expected:
    np.testing.assert_array_equal(got[k], expected[k], err_msg=k)
  del variables["RGB/inception_i3d/Mixed_4d/Branch_1/Conv3d_0b_3x3/batch_norm/beta"]
  with pytest.raises(i3d_weights.WeightsError, match="Mixed_4d/Branch_1/Conv3d_0b_3x3"):
    i3d_weights.from_tensorflow(variables)
