"""Two processes (jax.distributed with a local coordinator, gloo CPU collectives) train;
one of them is preempted (SIGTERM), both save the same step and exit 0; the rerun resumes
and ends with the parameters one process gets from the same global batches."""

import re
import signal
import socket
import subprocess
import threading
import time

import jax
import numpy as np
import pytest

from conftest import PYTHON, REPO, saved_demo_level1_state, subprocess_env
from hvg_jax.checkpoints import Checkpoints

CONFIG = "configs/demo_level1.py:runlocal"  # batch 4: 2 per process
pytestmark = pytest.mark.slow  # two training processes


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _train(workdir, num_steps, processes, *, checkpoint_every=2, sigterm_after=None):
  """Runs the command in ``processes`` processes; with ``sigterm_after``, process 1 gets
  SIGTERM once process 0 has logged that step. Returns their logs."""
  command = [PYTHON, "-m", "hvg_jax.main", f"--config={CONFIG}", f"--workdir={workdir}",
             f"--config.train.num_steps={num_steps}",
             f"--config.train.checkpoint_every={checkpoint_every}", "--config.train.log_every=1",
             # The papers' rates: at the demo's tenfold rates four GAN steps amplify the
             # order of the cross-device sums beyond rounding.
             "--config.train.g_lr=1e-4", "--config.train.d_lr=5e-4",
             "--config.sample.standing_passes=1"]
  env = subprocess_env(XLA_FLAGS="--xla_force_host_platform_device_count=1")
  if processes == 1:
    runs = [subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)]
  else:
    address = f"127.0.0.1:{_free_port()}"
    runs = [subprocess.Popen(command + [f"--coordinator_address={address}",
                                        f"--num_processes={processes}", f"--process_id={i}"],
                             cwd=REPO, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True) for i in range(processes)]
  lines = [[] for _ in runs]
  readers = [threading.Thread(target=lambda r=run, out=out: out.extend(r.stdout))
             for run, out in zip(runs, lines)]
  for reader in readers:
    reader.start()
  if sigterm_after is not None:
    start = time.time()
    while not any(f"] [{sigterm_after}] " in line for line in lines[0]):
      assert time.time() - start < 600 and runs[0].poll() is None, "".join(lines[0])[-3000:]
      time.sleep(0.2)
    runs[1].send_signal(signal.SIGTERM)
  for run, reader in zip(runs, readers):
    run.wait(timeout=600)
    reader.join()
  logs = ["".join(out) for out in lines]
  for i, (run, log) in enumerate(zip(runs, logs)):
    assert run.returncode == 0, f"process {i}:\n{log[-3000:]}"
  return logs


def _state_steps(workdir):
  checkpoints = Checkpoints(workdir)
  try:
    return list(checkpoints.manager.all_steps())
  finally:
    checkpoints.close()


def _state(workdir, step):
  assert _state_steps(workdir)[-1] == step
  return saved_demo_level1_state(workdir, step)


def test_two_processes_stop_together_on_sigterm_resume_and_match_one(tmp_path):
  two, one = tmp_path / "two", tmp_path / "one"
  logs = _train(two, 200, processes=2, checkpoint_every=100, sigterm_after=2)
  assert all("on 2 devices (2 processes)" in log for log in logs)
  stopped = {int(m) for log in logs for m in re.findall(r"Stopped at step (\d+)", log)}
  assert len(stopped) == 1, logs[0][-3000:]  # both processes, at the same step
  (stop,) = stopped
  assert all(f"Stopped at step {stop}" in log for log in logs)
  assert _state_steps(two) == [stop]  # the preemption's checkpoint, nothing else
  logs = _train(two, stop + 2, processes=2)  # a new run of both processes resumes
  assert all(f"from the checkpoint of step {stop}" in log for log in logs)
  _train(one, stop + 2, processes=1)
  # Only process 0 wrote summaries: one events file per run.
  assert len(list(two.glob("events.out.tfevents.*"))) == 2
  assert len(list(one.glob("events.out.tfevents.*"))) == 1
  resumed, reference = _state(two, stop + 2), _state(one, stop + 2)
  leaves, ref_leaves = jax.tree.leaves_with_path(resumed), dict(
      jax.tree.leaves_with_path(reference))
  assert len(leaves) == len(ref_leaves) > 100
  for path, value in leaves:
    expected = ref_leaves[path]
    if np.issubdtype(value.dtype, np.floating):
      # The same global batch; only the order of the cross-device sums differs.
      np.testing.assert_allclose(value, expected, rtol=1e-4, atol=1e-6,
                                 err_msg=jax.tree_util.keystr(path))
    else:
      np.testing.assert_array_equal(value, expected, err_msg=jax.tree_util.keystr(path))
