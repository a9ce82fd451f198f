"""The real-data statistics cache: what is read back is checked, a bad file is replaced."""

import logging

import numpy as np

from hvg_jax.eval import real_data


def _description(**changes):
  return dict(dict(kind="i3d", data="demo", split="train", num=4, frames=16, weights="abc"),
              **changes)


def _compute(calls, value=1.0, n=4):
  def compute():
    calls.append(1)
    return {"logits": np.full((n, 3), value), "labels": np.arange(n)}
  return compute


def _only_file(directory):
  (path,) = [p for p in directory.iterdir() if p.suffix == ".npz"]
  return path


def test_a_cache_is_written_whole_and_read_back(tmp_path):
  calls = []
  first = real_data.cached(tmp_path, _description(), _compute(calls))
  again = real_data.cached(tmp_path, _description(), _compute(calls, value=2.0))
  assert len(calls) == 1 and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
  np.testing.assert_array_equal(again["logits"], first["logits"])


def test_a_truncated_cache_is_a_warning_then_replaced(tmp_path, caplog):
  calls = []
  real_data.cached(tmp_path, _description(), _compute(calls))
  path = _only_file(tmp_path)
  path.write_bytes(path.read_bytes()[:300])
  with caplog.at_level(logging.WARNING):
    arrays = real_data.cached(tmp_path, _description(), _compute(calls, value=2.0))
  assert len(calls) == 2 and float(arrays["logits"][0, 0]) == 2.0
  (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
  assert str(path) in warning and "cannot be read" in warning
  caplog.clear()
  again = real_data.cached(tmp_path, _description(), _compute(calls, value=3.0))
  assert len(calls) == 2 and float(again["logits"][0, 0]) == 2.0  # the replacement is read


def test_another_descriptions_file_under_the_name_is_not_used(tmp_path, caplog):
  """A valid file of other settings copied to this one's name (another folder's
  statistics) is recomputed, not used."""
  calls = []
  real_data.cached(tmp_path / "a", _description(weights="other"), _compute(calls, 5.0))
  real_data.cached(tmp_path / "b", _description(), _compute(calls))
  _only_file(tmp_path / "a").replace(_only_file(tmp_path / "b"))
  with caplog.at_level(logging.WARNING):
    arrays = real_data.cached(tmp_path / "b", _description(), _compute(calls, value=1.0))
  assert len(calls) == 3 and float(arrays["logits"][0, 0]) == 1.0
  assert any("other settings (weights: 'other', asked 'abc')" in r.getMessage()
             for r in caplog.records)


def test_a_cache_with_the_wrong_number_of_clips_is_recomputed(tmp_path, caplog):
  calls = []
  real_data.cached(tmp_path, _description(), _compute(calls, n=3))  # a bad writer
  with caplog.at_level(logging.WARNING):
    arrays = real_data.cached(tmp_path, _description(), _compute(calls))
  assert len(calls) == 2 and len(arrays["logits"]) == 4
  assert any("do not hold the clips asked for" in r.getMessage() for r in caplog.records)
