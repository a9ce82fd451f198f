"""The benchmark command on a tiny chain: every figure present and plausible."""

import json
import subprocess

import pytest

from conftest import PYTHON, REPO, subprocess_env


def _benchmark(*args):
  return subprocess.run([PYTHON, "-m", "hvg_jax.benchmark", *args], cwd=REPO,
                        capture_output=True, text=True, env=subprocess_env(), timeout=600)


@pytest.mark.slow
def test_benchmark_of_an_upsampling_level_and_its_chain(tmp_path):
  out = _benchmark("--config=configs/demo.py:runlocal", "--level=2", "--batch_per_device=4",
                   "--steps=2", f"--output={tmp_path / 'bench.json'}")
  assert out.returncode == 0, out.stderr[-3000:]
  result = json.loads((tmp_path / "bench.json").read_text())
  t = result["training"]
  assert (t["config"], t["level"], t["batch_per_device"], t["dtype"]) == (
      "demo_level2", 2, 4, "float32")
  assert len(t["iteration_s_all"]) == 2 and t["iteration_s"] > 0 and t["compile_s"] > 0
  assert t["samples_per_s_per_device"] == 4 / t["iteration_s"]
  assert t["flops_per_iteration_per_device"] > 1e6
  assert t["peak_source"].startswith("measured") and 0 < t["mfu"] < 1
  assert t["memory_bytes"]["total"] > 0
  s = result["sampling"]
  assert (s["levels"], s["frames"]) == (2, 16) and s["videos_per_s"] > 0
  for row in ("iteration (median)", "MFU", "chain sampling"):
    assert row in out.stdout


def test_an_upsampling_level_alone_is_benchmarked_through_its_chain():
  out = _benchmark("--config=configs/demo_level2.py:runlocal")
  assert out.returncode != 0
  assert "--config=configs/<data>_chain.py --level=2" in out.stderr
