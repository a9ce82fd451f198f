"""launch/gpu/slurm.sh as written, on a real SLURM (tests/helpers/local_slurm.py: one node,
this machine, CPU tasks): both tasks join jax.distributed through JAX's SLURM detection and
train; the signal SLURM sends before the time limit (--signal=B:USR1) makes them checkpoint
and the job requeue itself; the requeued job resumes from that checkpoint."""

import os
import pathlib
import re
import sys
import time

import pytest

from conftest import REPO, subprocess_env

sys.path.insert(0, str(REPO / "tests" / "helpers"))
import local_slurm  # noqa: E402  pylint: disable=wrong-import-position

pytestmark = pytest.mark.slow  # a SLURM job that trains


def _wait(what, condition, timeout, log=None, state=lambda: ""):
  """Waits for ``condition``; on a timeout fails with the job's state (``state()``) and the
  end of its log."""
  deadline = time.time() + timeout
  while not condition():
    if time.time() > deadline:
      tail = log.read_text()[-3000:] if log is not None and log.exists() else "(no log yet)"
      pytest.fail(f"timed out waiting for {what} after {timeout} s; job: {state()}\n{tail}")
    time.sleep(0.5)


def test_slurm_job_trains_checkpoints_at_the_limit_requeues_and_resumes(tmp_path):
  try:
    cluster = local_slurm.start(tmp_path / "slurm", cpus=os.cpu_count() or 2,
                                memory_mb=4096)
  except local_slurm.Unavailable as e:
    pytest.skip(f"no local SLURM: {e}")
  workdir = tmp_path / "work"
  try:
    # The tests' JAX settings (and compilation cache) for the job's tasks (sbatch --export=ALL).
    env = subprocess_env(XLA_FLAGS="--xla_force_host_platform_device_count=1",
                         SLURM_CONF=cluster.env["SLURM_CONF"])
    env = {k: v for k, v in env.items() if not k.startswith("HVG_")}
    venv = sys.prefix if pathlib.Path(sys.prefix, "bin", "activate").exists() else ""
    out = cluster.run(
        "bash", str(REPO / "launch" / "gpu" / "slurm.sh"), "--nodes=1", "--gpus_per_node=0",
        "--platform=cpu", "--tasks_per_node=2", "--cpus_per_task=1", f"--venv={venv}",
        f"--log_dir={tmp_path}", "--config=configs/demo_level1.py:runlocal",
        f"--workdir={workdir}", "--", "--config.train.num_steps=100000",
        "--config.train.checkpoint_every=2", "--config.train.log_every=1",
        "--config.train.sample_every=100000", "--config.sample.standing_passes=1", env=env)
    (job,) = re.findall(r"Submitted batch job (\d+)", out)
    log = tmp_path / f"hvg_jax-{job}.log"
    text = lambda: log.read_text() if log.exists() else ""  # noqa: E731
    state = lambda: {k: v for k, v in cluster.job(job).items()  # noqa: E731
                     if k in ("JobState", "Reason", "RunTime", "Restarts")}

    # Two processes of one run, started by JAX's SLURM detection; a checkpoint written
    # (both compile the training step first: minutes from a cold cache on a busy machine).
    _wait("a checkpoint", lambda: any(p.name.isdigit() for p in
                                       (workdir / "checkpoints").glob("*")), 900, log, state)
    assert "Process 0 of 2 (SlurmCluster)" in text()
    assert "Process 1 of 2 (SlurmCluster)" in text()

    # What SLURM sends --save_before seconds before the time limit (--signal=B:USR1@s).
    cluster.run("scancel", "--signal=USR1", "--batch", job)
    _wait("the job to requeue", lambda: cluster.job(job).get("Restarts") == "1", 60, log,
          state)
    stopped = re.findall(r"Stopped at step (\d+); the command resumes", text())
    assert len(stopped) == 2 and stopped[0] == stopped[1], text()[-3000:]
    step = int(stopped[0])
    assert (workdir / "checkpoints" / str(step)).is_dir()
    # Requeued: the job shows COMPLETING while the first run's processes end (seconds, longer
    # on a busy machine), then PENDING until it starts again; it must not end.
    def requeued():
      job_state = cluster.job(job)["JobState"]
      assert job_state in ("COMPLETING", "PENDING", "REQUEUED", "RUNNING"), state()
      return job_state != "COMPLETING"
    _wait("the first run's processes to end", requeued, 120, log, state)

    # SLURM holds a requeued job for two minutes; start it in 30 s. (Released at once, it
    # can reach slurmd while slurmd still remembers killing the first run's step, and is
    # refused: "Job 1 already killed, do not launch batch job", the job FAILED.)
    cluster.run("scontrol", "update", f"JobId={job}", "StartTime=now+30")
    resumed = f"Training demo_level1 from step {step} to 100000 on 2 devices (2 processes)"
    _wait("the requeued job to resume", lambda: text().count(resumed) == 2, 300, log, state)
    assert "(restart 1)" in text()
  finally:
    cluster.stop()  # the job's processes, then the daemons
