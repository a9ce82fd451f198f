"""Sizing for Cloud TPU slices: accelerator types, the TPU compiler's figures of a tiny level
compiled for a two-host slice, its out-of-memory message read, and one line without libtpu."""

import json
import subprocess
import sys

import pytest

from conftest import PYTHON, REPO, subprocess_env
import hvg_jax
from hvg_jax import config_lib, sizing, tpu_slices

needs_libtpu = pytest.mark.skipif(not tpu_slices.libtpu_available(),
                                  reason="libtpu (the TPU compiler) is not installed")


@pytest.mark.parametrize("name, chips, shape, hosts, topology", [
    ("v5p-8", 4, (2, 2, 1), 1, "v5p:2x2x1"),
    ("v5p-16", 8, (2, 2, 2), 2, "v5p:2x2x2"),
    ("v5p-32", 16, (2, 2, 4), 4, "v5p:2x2x4"),
    ("v5p-64", 32, (2, 4, 4), 8, "v5p:2x4x4"),
    ("v5p-128", 64, (4, 4, 4), 16, "v5p:4x4x4"),
    ("v5p-1024", 512, (8, 8, 8), 128, "v5p:8x8x8"),
    ("v4-8", 4, (2, 2, 1), 1, "v4:2x2x1"),
    ("v4-256", 128, (4, 4, 8), 32, "v4:4x4x8"),
    ("v6e-1", 1, (1, 1), 1, "v6e:1x1"),
    ("v6e-8", 8, (2, 4), 1, "v6e:2x4"),
    ("v6e-16", 16, (4, 4), 4, "v6e:4x4"),
    ("v6e-256", 256, (16, 16), 64, "v6e:16x16"),
    ("v5litepod-32", 32, (4, 8), 8, "v5e:4x8"),
    ("v5e-4", 4, (2, 2), 1, "v5e:2x2"),
])
def test_accelerator_types_as_cloud_tpu_names_them(name, chips, shape, hosts, topology):
  s = tpu_slices.parse(name)
  assert (s.chips, s.shape, s.hosts, s.topology) == (chips, shape, hosts, topology)


@pytest.mark.parametrize("name, says", [
    ("v5p-6", "v5p slices come in sizes 8, 16, 32"),
    ("v5p-4", "two per chip"),
    ("v6e-2", "v6e slices come in sizes 1, 4, 8"),
    ("tpu-v5p-8", "not a Cloud TPU accelerator type"),
    ("v7-8", "not a Cloud TPU accelerator type"),
])
def test_a_wrong_accelerator_type_is_one_clear_error(name, says):
  with pytest.raises(config_lib.ConfigError, match=says):
    tpu_slices.parse(name)


def test_the_compilers_out_of_memory_message_gives_what_was_needed():
  message = ("RESOURCE_EXHAUSTED: Ran out of memory on HBM, the total memory required for "
             "HLO temporaries (128.00G) exceeds available HBM (95.74G).")
  oom = sizing.out_of_memory(RuntimeError(message))
  assert oom["needed"] == 128 * 2 ** 30 and oom["available"] == int(95.74 * 2 ** 30)
  assert sizing.out_of_memory(RuntimeError("INVALID_ARGUMENT: something else")) is None


@needs_libtpu
def test_a_program_that_does_not_fit_is_read_from_the_real_compiler():
  """A program over a v5e chip's HBM fails to compile; the message gives both figures."""
  code = """
import jax, jax.numpy as jnp
from jax.sharding import NamedSharding, PartitionSpec as P
from hvg_jax import runtime, sizing, tpu_slices
mesh = runtime.make_mesh(tpu_slices.devices("v5litepod-4"))
x = jax.ShapeDtypeStruct((4, 2 ** 16, 2 ** 16), jnp.float32, sharding=NamedSharding(mesh, P("data")))
try:
  jax.jit(lambda a: a * 2).lower(x).compile()
except jax.errors.JaxRuntimeError as e:
  oom = sizing.out_of_memory(e)
  print(oom["needed"], oom["available"])
"""
  out = subprocess.run([PYTHON, "-c", code], cwd=REPO, capture_output=True, text=True,
                       env=subprocess_env(), timeout=300)
  assert out.returncode == 0, out.stderr[-3000:]
  needed, available = map(int, out.stdout.split())
  assert available == int(15.75 * 2 ** 30)  # v5e: 16 GB, 15.75 GiB for programs
  assert needed >= 32 * 2 ** 30  # its 16 GiB argument and 16 GiB output, per chip


@pytest.mark.slow
@needs_libtpu
def test_a_tiny_level_compiles_for_a_two_host_tpu_slice(tmp_path):
  """The real TPU compiler, v5p-16 (8 chips over 2 hosts): the batch split over every chip
  of both hosts, the memory and cost analyses read, the report and the verdict printed."""
  out = subprocess.run(
      [PYTHON, "-m", "hvg_jax.benchmark", "--config=configs/demo_level1.py:runlocal",
       # One D step and no 3D blocks in D_T: the same kinds of program, compiled in about
       # half the time (the compile is the test's cost).
       "--config.train.d_steps=1", "--config.model.d.temporal_3d_blocks=0",
       "--topology=v5p-16", "--batch_per_device=1",
       f"--output={tmp_path / 'sizing.json'}"],
      cwd=REPO, capture_output=True, text=True, env=subprocess_env(), timeout=600)
  assert out.returncode == 0, out.stderr[-3000:]
  result = json.loads((tmp_path / "sizing.json").read_text())
  s = result["sizing"]
  assert (s["slice_name"], s["chips"], s["hosts"], s["batch_per_chip"]) == ("v5p-16", 8, 2, 1)
  # The compiled update's batch: (d_steps, 1 video, frames, H, W, 3) on each of 8 chips
  # belonging to 2 hosts.
  assert s["batch_shard_shape"][:2] == [1, 1]
  assert (s["batch_chips"], s["batch_hosts"]) == (8, 2)
  m = s["memory"]
  assert m["argument"] > 0 and m["temp"] > 0 and m["generated_code"] > 0
  assert s["memory_bytes"] == m["total"] + m["generated_code"] <= s["hbm_bytes"]
  assert s["fits"] and s["flops"] > 1e6 and 0 < s["estimated_s"] < 1
  assert 0 < s["estimated_utilisation"] < 1
  assert s["estimated_days"] > 0 and s["estimated_chip_hours"] > 0
  for row in ("memory per chip", "the compiler's estimate", "verdict", "fits with"):
    assert row in out.stdout


def test_without_libtpu_the_command_says_which_extra_installs_it(monkeypatch):
  # The command as run where libtpu is not installed (importing it fails).
  code = ("import runpy, sys; sys.modules['libtpu'] = None; sys.argv = ['benchmark', "
          "'--config=configs/demo_level1.py:runlocal', '--topology=v5p-8']; "
          "runpy.run_module('hvg_jax.benchmark', run_name='__main__')")
  out = subprocess.run([PYTHON, "-c", code], cwd=REPO, capture_output=True, text=True,
                       env=subprocess_env(), timeout=300)
  assert out.returncode == 1
  assert out.stderr.strip().splitlines() == [
      "error: compiling for a TPU slice needs libtpu, the TPU compiler: pip install -e "
      "'.[tpu]' (it installs the libtpu matching the installed jax)"]
  monkeypatch.setitem(sys.modules, "libtpu", None)
  with pytest.raises(config_lib.ConfigError, match=r"pip install -e '\.\[tpu\]'"):
    tpu_slices.devices.__wrapped__("v5p-8")


@needs_libtpu
@pytest.mark.skipif(hvg_jax.tpu_chips_visible(), reason="a TPU machine uses its TPUs")
def test_libtpu_stays_out_of_the_way_without_tpus():
  """With libtpu installed (the tpu and test extras), a command on a machine without TPU
  chips starts on its other platforms (here the CPU) with no libtpu errors about missing
  TPU hosts."""
  env = subprocess_env()
  for name in ("JAX_PLATFORMS", "TPU_ACCELERATOR_TYPE", "TPU_WORKER_HOSTNAMES",
               "ALLOW_MULTIPLE_LIBTPU_LOAD"):
    env.pop(name, None)
  code = "import jax, hvg_jax; print(jax.devices()[0].platform)"
  out = subprocess.run([PYTHON, "-c", code], cwd=REPO, capture_output=True, text=True,
                       env=env, timeout=300)
  assert out.returncode == 0, out.stderr[-3000:]
  assert out.stdout.strip() in ("cpu", "gpu")
  assert "TPU" not in out.stderr, out.stderr[-3000:]


def _fake_sizing(batch, *, per_video, fixed, hbm=100):
  total = fixed + per_video * batch
  fits = total <= hbm
  return sizing.Sizing(
      config="c", level=1, dtype="bfloat16", remat=False, slice_name="v5p-8", chips=4,
      hosts=1, batch_per_chip=batch, d_steps=2, num_steps=10, hbm_bytes=hbm,
      peak_flops=1.0, compile_s=0.0, fits=fits, needed_bytes=None if fits else total,
      program_figures=[{"memory": {"total": total, "generated_code": 0},
                        "cost": {"flops": 1.0, "estimated_s": 1.0}}] if fits else [])


def test_without_a_time_from_the_cost_model_the_roofline_is_the_labelled_estimate():
  """libtpu 0.0.42's cost model answers negative seconds for v6e: the time per iteration is
  then FLOPs / peak + bytes / HBM bandwidth, said to be the roofline's."""
  s = sizing.Sizing(
      config="c", level=1, dtype="bfloat16", remat=False, slice_name="v6e-4", chips=4,
      hosts=1, batch_per_chip=2, d_steps=2, num_steps=3600, hbm_bytes=32 * 2 ** 30,
      peak_flops=918e12, compile_s=0.0, fits=True,
      program_figures=[{"memory": {"argument": 0, "output": 0, "temp": 2 ** 30, "alias": 0,
                                   "generated_code": 0, "total": 2 ** 30},
                        "cost": {"flops": 918e12, "bytes_accessed": 1638e9,
                                 "estimated_s": -66.9}}])
  assert s.time_source == "roofline" and s.iteration_s == pytest.approx(2.0)
  assert s.estimated_utilisation == pytest.approx(0.5)
  assert s.run_estimate()["estimated_chip_hours"] == pytest.approx(8.0)  # 3600 x 2 s x 4
  text = sizing.report(s)
  assert "2 s, a roofline estimate" in text and "-66.9 s, no estimate" in text
  recorded = s.as_dict()  # what benchmarks/tpu_paper_scale.py's table reads
  assert recorded["iteration_s"] == pytest.approx(2.0) and recorded["time_source"] == "roofline"


@pytest.mark.parametrize("per_video, fixed, expected, compiled", [
    (3, 10, 16, [1, 16, 32]),  # the line predicts 30 -> 16 fits, 32 does not
    (7, 40, 8, [1, 8, 16]),  # predicts 8: fits; 16 compiled to know it does not
    (30, 40, 2, [1, 2, 4]),  # predicts 2: fits; 4 does not
])
def test_the_largest_fitting_batch_is_found_by_compiling_around_the_lines_prediction(
    monkeypatch, per_video, fixed, expected, compiled):
  """Memory affine in the batch: the search compiles 1 per chip, the line's prediction, and
  powers of two from there to the boundary, never the batch that already failed."""
  calls = []

  def fake(configs, level, tpu_slice, *, batch_per_chip, dtype=None, remat=None):
    calls.append(batch_per_chip)
    return _fake_sizing(batch_per_chip, per_video=per_video, fixed=fixed)

  monkeypatch.setattr(sizing, "size_training", fake)
  first = _fake_sizing(64, per_video=per_video, fixed=fixed)
  best = sizing.largest_fitting_batch([], 1, None, first, log=lambda _: None)
  assert best.batch_per_chip == expected
  assert sorted(calls) == sorted(compiled) and 64 not in calls


def test_nothing_fits_when_one_video_per_chip_does_not(monkeypatch):
  monkeypatch.setattr(sizing, "size_training", lambda *a, batch_per_chip, **k: _fake_sizing(
      batch_per_chip, per_video=200, fixed=10))
  first = _fake_sizing(8, per_video=200, fixed=10)
  assert sizing.largest_fitting_batch([], 1, None, first, log=lambda _: None) is None


def test_the_table_puts_a_batch_larger_than_a_slice_on_a_multislice(tmp_path):
  """BDD100K level 3 at 1 per chip needs 512 chips; v6e slices stop at 256."""
  name = "bdd_level3_v6e_b1_bfloat16.json"
  (tmp_path / name).write_text((REPO / "results" / "tpu_sizing" / name).read_text())
  out = subprocess.run([PYTHON, str(REPO / "benchmarks" / "tpu_paper_scale.py"), "table",
                        f"--results={tmp_path}"], capture_output=True, text=True,
                       env=subprocess_env(), check=True).stdout
  row, = [line for line in out.splitlines() if line.startswith("| BDD100K level 3")]
  assert "| 2 x v6e-256 (Multislice) (512) | 11.8 of 31.2 GiB | 0.199 (roofline) |" in row
