"""Saved artefacts are verified when read: an export's configs and arrays against the
checksums saved with them, so a damaged one is one DamagedArtefactError naming it, never a
silently wrong generator; files written through hvg_jax.files are whole or absent."""

import json
import resource
import shutil
import threading
import time

import jax
import numpy as np
import pytest
from flax import nnx

from conftest import CONFIG_DIR
from hvg_jax import config_lib, files, models
from hvg_jax import level as level_lib
from hvg_jax.layers import reset_standing_stats


def _level(seed: int) -> level_lib.FrozenLevel:
  config = config_lib.load_config(CONFIG_DIR / "demo_level1.py", "runlocal")
  generator = models.build_generator(config, rngs=nnx.Rngs(seed))
  reset_standing_stats(generator, config.data.frames)
  return level_lib.frozen_level(config, *nnx.split(generator), source=f"seed {seed}")


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
  root = tmp_path_factory.mktemp("exports")
  for seed in (0, 1):
    level_lib.write_export(root / f"seed{seed}", [_level(seed)])
  return root


def test_an_intact_export_loads_exactly(exports):
  (loaded,) = level_lib.load_export(exports / "seed0")
  jax.tree.map(np.testing.assert_array_equal, loaded.arrays, _level(0).arrays)


def test_arrays_that_read_but_differ_from_their_checksums_are_refused(exports, tmp_path):
  # Another generator's arrays under this export's description: every file reads, the
  # values are wrong (as a flipped bit in a value would make them).
  damaged = tmp_path / "damaged"
  shutil.copytree(exports / "seed0", damaged)
  shutil.rmtree(damaged / "generators")
  shutil.copytree(exports / "seed1" / "generators", damaged / "generators")
  with pytest.raises(level_lib.DamagedArtefactError,
                     match=r"is damaged \(level1's array .* does not match the checksum"):
    level_lib.load_export(damaged)


def test_a_changed_byte_in_the_saved_config_is_refused(exports, tmp_path):
  damaged = tmp_path / "damaged"
  shutil.copytree(exports / "seed0", damaged)
  metadata = damaged / "configs" / "metadata"
  text = metadata.read_text()
  assert '"seed": 0' in text
  metadata.write_text(text.replace('"seed": 0', '"seed": 1', 1))  # one bit: 0x30 -> 0x31
  with pytest.raises(level_lib.DamagedArtefactError,
                     match="level1's config or checksums do not match the digest"):
    level_lib.load_export(damaged)


def test_unreadable_exports_name_the_file_and_the_fix(exports, tmp_path):
  truncated = tmp_path / "truncated"
  shutil.copytree(exports / "seed0", truncated)
  for f in (truncated / "generators" / "d").iterdir():
    with open(f, "r+b") as handle:
      handle.truncate(1000)
  with pytest.raises(level_lib.DamagedArtefactError) as e:
    level_lib.load_export(truncated)
  assert f"{truncated} is damaged (OUT_OF_RANGE reading {truncated}/generators/d/" in str(e.value)
  assert str(e.value).endswith(level_lib.EXPORT_FIX)
  assert "tensorstore_spec" not in str(e.value) and "\n" not in str(e.value)
  no_configs = tmp_path / "no_configs"
  shutil.copytree(exports / "seed0", no_configs)
  (no_configs / "configs" / "metadata").unlink()
  with pytest.raises(level_lib.DamagedArtefactError, match="metadata not found"):
    level_lib.load_export(no_configs)


def test_an_export_written_before_checksums_still_loads_with_a_warning(exports, tmp_path,
                                                                      caplog):
  old = tmp_path / "old"
  shutil.copytree(exports / "seed0", old)
  metadata = old / "configs" / "metadata"
  saved = json.loads(metadata.read_text())
  for entry in saved.values():
    del entry["checksums"], entry["digest"]
  metadata.write_text(json.dumps(saved))
  (loaded,) = level_lib.load_export(old)
  jax.tree.map(np.testing.assert_array_equal, loaded.arrays, _level(0).arrays)
  assert "has no checksums: its arrays cannot be verified" in caplog.text


@pytest.fixture
def file_size_limit():
  """Files up to 1 KiB for this process (Python ignores SIGXFSZ: writes fail with EFBIG)."""
  soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
  resource.setrlimit(resource.RLIMIT_FSIZE, (1024, hard))
  yield
  resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


def test_a_failed_atomic_write_keeps_the_old_file_and_leaves_no_partial_one(tmp_path,
                                                                            file_size_limit):
  path = tmp_path / "metrics.json"
  path.write_text("old")
  with pytest.raises(files.WriteError) as e:
    with files.atomic(path, "w") as f:
      f.write("x" * 10_000)
  assert str(e.value).startswith(f"{path} could not be written: File too large (errno 27)")
  assert path.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == [
      "metrics.json"]
  with files.atomic(path, "w") as f:  # what fits is written whole
    f.write("new")
  assert path.read_text() == "new"


def test_a_failed_export_waits_for_a_write_thread_that_has_not_started_running():
  """After a failed save, write_export waits for Orbax's other writes; one can be listed by
  threading.enumerate() before it runs, which Thread.join refuses (a CI failure)."""
  thread = threading.Thread(target=time.sleep, args=(0.2,))
  threading.Timer(0.1, thread.start).start()
  level_lib._join(thread, timeout=30)  # pylint: disable=protected-access
  assert thread.ident is not None and not thread.is_alive()


def test_an_export_on_a_full_disk_is_one_error_and_leaves_nothing(tmp_path, file_size_limit):
  with pytest.raises(files.WriteError, match="could not be written: File too large"):
    level_lib.write_export(tmp_path / "export", [_level(0)])
  assert list(tmp_path.iterdir()) == []
