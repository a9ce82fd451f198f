"""``python -m hvg_jax.main`` as a user runs it: outputs, resumption, errors, SIGTERM and
Ctrl-C."""

import signal
import subprocess
import time

import imageio.v3 as iio
import pytest
from tensorboard.backend.event_processing import event_accumulator

from conftest import PYTHON, REPO, subprocess_env

DEMO = "--config=configs/demo_level1.py:runlocal"


def _main(*args, timeout=600, cwd=REPO):
  return subprocess.run([PYTHON, "-m", "hvg_jax.main", *args], cwd=cwd, capture_output=True,
                        text=True, env=subprocess_env(), timeout=timeout)


def _steps(workdir):
  return sorted(int(p.name) for p in (workdir / "checkpoints").iterdir() if p.name.isdigit())


@pytest.mark.slow
def test_main_trains_and_leaves_checkpoints_summaries_and_samples(tmp_path):
  # Run from elsewhere with a relative workdir, as a user would.
  out = _main(f"--config={REPO / 'configs' / 'demo_level1.py'}:runlocal", "--workdir=run",
              "--config.train.num_steps=9", "--config.train.checkpoint_every=3",
              "--config.train.sample_every=3", "--config.train.log_every=3",
              "--config.train.keep_checkpoints=2", "--compilation_cache=cache", cwd=tmp_path)
  assert out.returncode == 0, out.stderr[-3000:]
  # The compiled programs kept for a restart (--compilation_cache; the default is
  # <workdir>/compilation_cache).
  assert "Compilation cache: cache" in out.stderr
  assert len(list((tmp_path / "cache").iterdir())) >= 3
  tmp_path = tmp_path / "run"
  assert _steps(tmp_path) == [6, 9]  # the last two of 3, 6, 9
  assert (tmp_path / "checkpoints" / "9" / "config").is_dir()
  for step in (3, 6):
    gif = iio.imread(tmp_path / "samples" / f"step_{step:08d}.gif")
    assert gif.ndim == 4 and gif.shape[0] == 8  # 8 frames of a grid of 4 videos
    assert (tmp_path / "samples" / f"step_{step:08d}.mp4").stat().st_size > 0
  events = event_accumulator.EventAccumulator(str(tmp_path))
  events.Reload()
  tags = events.Tags()
  assert {"d_loss", "g_loss", "d_real/spatial", "d_fake/temporal", "grad_norm/g",
          "examples_per_sec", "steps_per_sec"} <= set(tags["tensors"] + tags["scalars"])
  assert "samples" in tags["tensors"] + tags["images"]
  assert "ETA" in out.stderr and "Training demo_level1 from step 0 to 9" in out.stderr

  again = _main(DEMO, f"--workdir={tmp_path}", "--config.train.num_steps=9")
  assert again.returncode == 0 and "already trained (9 of 9 steps)" in again.stderr
  fewer = _main(DEMO, f"--workdir={tmp_path}", "--config.train.num_steps=6")
  assert fewer.returncode == 1 and "Traceback" not in fewer.stderr
  assert fewer.stderr.strip().splitlines()[-1] == (
      f"error: config.train.num_steps=6, but the run in {tmp_path} is at step 9 already: "
      "pass --config.train.num_steps=9 or more to go on with it, or another --workdir to "
      "train 6 steps afresh")


@pytest.mark.parametrize("args,message", [
    (["--config.model.g.mults=(8,)"], "config.model.g.mults:"),
    (["--config.data.resolution=12"], "config.data.resolution:"),
    (["--config.model.g.nonexistent=1"], "nonexistent"),
])
def test_bad_config_is_a_clear_error(tmp_path, args, message):
  out = _main(DEMO, f"--workdir={tmp_path}", *args, timeout=120)
  assert out.returncode != 0 and message in out.stderr, out.stderr[-2000:]
  assert not (tmp_path / "checkpoints").exists()


@pytest.mark.parametrize("platform", ["gpu", "tpu"])
def test_a_run_that_needs_an_accelerator_stops_on_a_cpu(tmp_path, platform):
  out = _main(DEMO, f"--workdir={tmp_path}", f"--platform={platform}", timeout=120)
  assert out.returncode == 1, out.stderr[-2000:]
  assert out.stderr.strip().splitlines()[-1].startswith(
      f"error: --platform={platform}: this run needs {platform.upper()}s but JAX found 1 CPU")
  assert "pip install -e '.[" in out.stderr.splitlines()[-1]
  assert not (tmp_path / "checkpoints").exists()


def test_unwritable_workdir_is_a_clear_error(tmp_path):
  blocker = tmp_path / "file"
  blocker.write_text("not a directory")
  out = _main(DEMO, f"--workdir={blocker / 'run'}", timeout=120)
  assert out.returncode != 0 and "is not a writable directory" in out.stderr


def _training(workdir):
  """(process, deadline): a long demo run in ``workdir``, once its steps are logged."""
  args = [PYTHON, "-m", "hvg_jax.main", DEMO, f"--workdir={workdir}",
          "--config.train.num_steps=100000", "--config.train.checkpoint_every=100000",
          "--config.train.log_every=2", "--config.train.sample_every=100000"]
  proc = subprocess.Popen(args, cwd=REPO, stderr=subprocess.PIPE, text=True,
                          env=subprocess_env())
  deadline = time.time() + 600
  for line in proc.stderr:  # wait until training runs
    if " d_loss=" in line or time.time() > deadline:
      break
  return proc, deadline


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_saves_and_the_command_resumes(tmp_path, sig):
  """A SIGTERM mid-run (as a cluster's preemption sends), or Ctrl-C (SIGINT), saves the
  step reached and exits cleanly; the same command then continues from that step."""
  proc, deadline = _training(tmp_path)
  proc.send_signal(sig)
  err = proc.stderr.read()
  assert proc.wait(timeout=300) == 0, err[-3000:]
  assert "Stopped at step" in err and "Traceback" not in err
  (stopped,) = _steps(tmp_path)
  assert 2 <= stopped < 100000
  out = _main(DEMO, f"--workdir={tmp_path}", f"--config.train.num_steps={stopped + 2}",
              "--config.train.log_every=1")
  assert out.returncode == 0, out.stderr[-3000:]
  assert f"Resuming demo_level1 from the checkpoint of step {stopped}" in out.stderr
  assert _steps(tmp_path)[-1] == stopped + 2


@pytest.mark.slow
def test_a_second_ctrl_c_stops_at_once_in_one_line(tmp_path):
  """The first Ctrl-C asks for a checkpoint after the step; a second one stops at once,
  wherever the run is (a step, a save): one line, exit status 130, no traceback, the
  workdir's lock released."""
  proc, deadline = _training(tmp_path)
  proc.send_signal(signal.SIGINT)
  for line in proc.stderr:  # the first one was handled: the second interrupts
    if "Ctrl-C: saving" in line or time.time() > deadline:
      break
  proc.send_signal(signal.SIGINT)
  err = proc.stderr.read()
  assert proc.wait(timeout=300) == 130, err[-3000:]
  assert "Interrupted: stopped at once, without saving." in err, err[-3000:]
  assert "Traceback" not in err and not (tmp_path / "run.lock").exists()
