"""When and how a run starts several processes (hvg_jax.distributed)."""

import subprocess

import pytest

from conftest import PYTHON, REPO, subprocess_env
from hvg_jax import distributed


def test_explicit_settings_from_flags_or_environment():
  assert distributed.explicit_settings(environ={}) is None
  assert distributed.explicit_settings("10.0.0.2:8476", 4, 3, environ={}) == {
      "coordinator_address": "10.0.0.2:8476", "num_processes": 4, "process_id": 3}
  env = {"JAX_COORDINATOR_ADDRESS": "h:1", "JAX_NUM_PROCESSES": "2", "JAX_PROCESS_ID": "1"}
  assert distributed.explicit_settings(environ=env) == {
      "coordinator_address": "h:1", "num_processes": 2, "process_id": 1}
  # A flag wins over its variable.
  assert distributed.explicit_settings(process_id=0, environ=env)["process_id"] == 0


@pytest.mark.parametrize("args, env, message", [
    (("h:1", 2, None), {}, "missing: --process_id"),
    ((None, None, None), {"JAX_NUM_PROCESSES": "2"}, "--coordinator_address, --process_id"),
    (("h:1", 2, 2), {}, "must be 0 .. 1"),
    (("hostonly", 2, 0), {}, "host:port"),
    ((None, None, None), {"JAX_COORDINATOR_ADDRESS": "h:1", "JAX_NUM_PROCESSES": "two",
                          "JAX_PROCESS_ID": "0"}, "JAX_NUM_PROCESSES='two'"),
])
def test_bad_settings_say_what_to_set(args, env, message):
  with pytest.raises(distributed.DistributedError, match=message.replace(".", r"\.")):
    distributed.explicit_settings(*args, environ=env)


def test_clusters_jax_reads_itself():
  assert distributed.cluster_detected({}) is None
  assert distributed.cluster_detected({"TPU_WORKER_HOSTNAMES": "w0"}) is None  # one host
  assert distributed.cluster_detected({"TPU_WORKER_HOSTNAMES": "w0,w1"}) == "Cloud TPU slice"
  assert distributed.cluster_detected({"SLURM_NTASKS": "1"}) is None
  assert distributed.cluster_detected({"SLURM_NTASKS": "16"}) == "SLURM job"
  assert distributed.cluster_detected({"OMPI_COMM_WORLD_SIZE": "8"}) == "Open MPI run"


def test_main_refuses_incomplete_settings_before_anything_runs(tmp_path):
  out = subprocess.run(
      [PYTHON, "-m", "hvg_jax.main", "--config=configs/demo_level1.py:runlocal",
       f"--workdir={tmp_path / 'w'}", "--num_processes=2", "--process_id=0"],
      cwd=REPO, capture_output=True, text=True, env=subprocess_env(), timeout=300)
  assert out.returncode != 0
  assert "missing: --coordinator_address" in out.stderr
  assert not (tmp_path / "w").exists()
