"""When and how a run starts several processes (hvg_jax.distributed)."""

import os
import subprocess

import jax
import pytest
from absl import flags

from conftest import PYTHON, REPO, subprocess_env
from hvg_jax import distributed


def test_explicit_settings_from_flags_or_environment():
  assert distributed.explicit_settings(environ={}) == {}
  assert distributed.explicit_settings("10.0.0.2:8476", 4, 3, environ={}) == {
      "coordinator_address": "10.0.0.2:8476", "num_processes": 4, "process_id": 3}
  env = {"JAX_COORDINATOR_ADDRESS": "h:1", "JAX_NUM_PROCESSES": "2", "JAX_PROCESS_ID": "1"}
  assert distributed.explicit_settings(environ=env) == {
      "coordinator_address": "h:1", "num_processes": 2, "process_id": 1}
  # A flag wins over its variable; a partial setting is only what was set.
  assert distributed.explicit_settings(process_id=0, environ=env)["process_id"] == 0
  assert distributed.explicit_settings(environ={"JAX_COORDINATOR_ADDRESS": "h:1"}) == {
      "coordinator_address": "h:1"}


@pytest.mark.parametrize("args, env, message", [
    (("h:1", 2, 2), {}, "must be 0 .. 1"),
    (("hostonly", 2, 0), {}, "host:port"),
    ((None, None, None), {"JAX_COORDINATOR_ADDRESS": "h:1", "JAX_NUM_PROCESSES": "two",
                          "JAX_PROCESS_ID": "0"}, "JAX_NUM_PROCESSES='two'"),
])
def test_bad_settings_say_what_to_set(args, env, message):
  with pytest.raises(distributed.DistributedError, match=message.replace(".", r"\.")):
    distributed.explicit_settings(*args, environ=env)


SLURM = {"SLURM_JOB_ID": "4242", "SLURM_STEP_NODELIST": "gpu[01-02]", "SLURM_NTASKS": "16",
         "SLURM_PROCID": "9", "SLURM_LOCALID": "1"}
OPEN_MPI_4 = {"OMPI_MCA_orte_hnp_uri": "1531576320.0;tcp://10.96.0.1:34911",
              "OMPI_COMM_WORLD_SIZE": "8", "OMPI_COMM_WORLD_RANK": "3",
              "OMPI_COMM_WORLD_LOCAL_RANK": "3"}
OPEN_MPI_5 = {"OMPI_COMM_WORLD_SIZE": "8", "OMPI_COMM_WORLD_RANK": "3",
              "OMPI_COMM_WORLD_LOCAL_RANK": "3"}


@pytest.fixture
def cluster(monkeypatch):
  """Fakes an environment (variables, and the Cloud TPU metadata server JAX asks) and
  returns what ``distributed.initialize`` passes to jax.distributed.initialize (None: not
  called)."""
  from jax._src.clusters import cloud_tpu_cluster  # pylint: disable=g-import-not-at-top
  calls = []
  monkeypatch.setattr(jax.distributed, "initialize", lambda **kw: calls.append(kw))
  names = ("distributed", "coordinator_address", "num_processes", "process_id")
  flags.FLAGS.mark_as_parsed()
  saved = {name: flags.FLAGS[name].value for name in names}

  def fake(env=None, tpu_workers=None, **flag_values):
    for name in list(os.environ):
      if name.startswith(("SLURM_", "OMPI_", "JAX_", "TPU_", "MEGASCALE_", "KUBERNETES_")):
        monkeypatch.delenv(name)
    for k, v in (env or {}).items():
      monkeypatch.setenv(k, v)
    monkeypatch.setattr(cloud_tpu_cluster, "running_in_cloud_tpu_vm", tpu_workers is not None)
    metadata = {"agent-worker-number": "0",
                "worker-network-endpoints": ",".join(
                    f"x:{i}:10.0.0.{i}" for i in range(tpu_workers or 0))}
    monkeypatch.setattr(cloud_tpu_cluster, "get_metadata",
                        lambda key: (metadata[key], 200) if key in metadata else ("", 404))
    for name in names:
      flags.FLAGS[name].value = flag_values.get(name, flags.FLAGS[name].default)
    distributed.initialize()
    return calls.pop() if calls else None

  yield fake
  for name, value in saved.items():
    flags.FLAGS[name].value = value


def test_jax_decides_on_a_tpu_vm_slice_slurm_and_open_mpi_4(cluster, monkeypatch):
  # Only what the user set reaches JAX, which reads the rest from the cluster.
  monkeypatch.setattr(jax, "process_count", lambda: 2)
  assert cluster(tpu_workers=4) == {}
  assert cluster(env=SLURM) == {}
  assert cluster(env=OPEN_MPI_4) == {}
  # A partial setting: JAX completes it from the cluster.
  assert cluster(env={**SLURM, "JAX_COORDINATOR_ADDRESS": "10.1.1.1:1234"}) == {
      "coordinator_address": "10.1.1.1:1234"}
  # A one-host TPU VM or a one-task SLURM step: one process, nothing to start...
  assert cluster(tpu_workers=1) is None
  assert cluster(env={**SLURM, "SLURM_NTASKS": "1", "SLURM_PROCID": "0"}) is None
  # ... unless the launch script says so.
  assert cluster(tpu_workers=1, distributed="on") == {}


def test_open_mpi_5_gives_count_and_index_and_needs_a_coordinator(cluster):
  assert cluster(env={**OPEN_MPI_5, "JAX_COORDINATOR_ADDRESS": "10.0.0.1:8476"}) == {
      "coordinator_address": "10.0.0.1:8476", "num_processes": 8, "process_id": 3}
  with pytest.raises(distributed.DistributedError, match="Open MPI 5 run: JAX does not "
                     "detect it; give process 0's host:port as --coordinator_address"):
    cluster(env=OPEN_MPI_5)


def test_outside_a_cluster(cluster):
  assert cluster() is None  # one process
  assert cluster(distributed="off", env=SLURM) is None
  assert cluster(coordinator_address="h:1", num_processes=2, process_id=1) == {
      "coordinator_address": "h:1", "num_processes": 2, "process_id": 1}
  with pytest.raises(distributed.DistributedError, match="missing: --num_processes, "
                     "--process_id"):
    cluster(env={"JAX_COORDINATOR_ADDRESS": "h:1"})
  with pytest.raises(distributed.DistributedError, match="missing: --coordinator_address, "
                     "--num_processes, --process_id"):
    cluster(distributed="on")


def test_main_refuses_incomplete_settings_before_anything_runs(tmp_path):
  out = subprocess.run(
      [PYTHON, "-m", "hvg_jax.main", "--config=configs/demo_level1.py:runlocal",
       f"--workdir={tmp_path / 'w'}", "--num_processes=2", "--process_id=0"],
      cwd=REPO, capture_output=True, text=True, env=subprocess_env(), timeout=300)
  assert out.returncode != 0
  assert "missing: --coordinator_address" in out.stderr
  assert not (tmp_path / "w").exists()
