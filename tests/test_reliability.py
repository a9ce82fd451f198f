"""An unlucky user's runs, as commands: a damaged latest checkpoint falls back to the one
before, a full disk during a save, a second run on a busy workdir, mistakes in the flags.
Each ends with its exit code and one line, and loses nothing: where the run resumes, it
ends with the state of a run that was never interrupted."""

import glob
import json
import os
import shutil
import socket
import subprocess

import jax
import numpy as np
import pytest
from flax import nnx

from conftest import CONFIG_DIR, PYTHON, REPO, saved_demo_level1_state, subprocess_env
from hvg_jax import config_lib, locks, runtime
from hvg_jax import level as level_lib
from hvg_jax.chain import sample_files
from hvg_jax.checkpoints import Checkpoints
from hvg_jax.train import state as state_lib

# One pytest-xdist worker runs them all (--dist loadgroup): the finished run is made once.
pytestmark = pytest.mark.xdist_group("reliability")

STEPS = ["--config.train.num_steps=6", "--config.train.checkpoint_every=2",
         "--config.train.keep_checkpoints=3", "--config.sample.standing_passes=1"]


def _main(workdir, *flags, shell_prefix="", **env):
  command = [PYTHON, "-m", "hvg_jax.main", "--config=configs/demo_level1.py:runlocal",
             f"--workdir={workdir}", *STEPS, *flags]
  if shell_prefix:
    command = ["bash", "-c", f'{shell_prefix}; exec "$@"', "bash", *command]
  return subprocess.run(command, cwd=REPO, env=subprocess_env(**env), capture_output=True,
                        text=True, timeout=600)


def _assert_samesaved_demo_level1_state(a, b):
  jax.tree.map(np.testing.assert_array_equal, a, b)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
  """A run of 6 steps with checkpoints at 2, 4 and 6, and its final state."""
  workdir = tmp_path_factory.mktemp("reliability") / "uninterrupted"
  run = _main(workdir)
  assert run.returncode == 0, run.stderr[-3000:]
  return workdir, saved_demo_level1_state(workdir, 6)


def _truncate_data(step_dir, size=None):
  """Cuts the array data (OCDBT), whichever file holds which array, to ``size`` bytes
  (default: half)."""
  files = glob.glob(str(step_dir / "**" / "d" / "*"), recursive=True)
  assert files
  for f in files:
    os.truncate(f, os.path.getsize(f) // 2 if size is None else size)


def _garbage_manifest(step_dir):
  (step_dir / "state" / "manifest.ocdbt").write_bytes(b"garbage")


def _delete_metadata(step_dir):
  (step_dir / "state" / "_METADATA").unlink()


def _garbage_config(step_dir):
  (step_dir / "config" / "metadata").write_text("{not json")


def _empty(step_dir):
  shutil.rmtree(step_dir)
  step_dir.mkdir()


DAMAGES = [_truncate_data, _garbage_manifest, _delete_metadata, _garbage_config, _empty]


@pytest.mark.slow
@pytest.mark.parametrize("size", [None, 1000], ids=["half", "1000_bytes"])
def test_a_damaged_latest_checkpoint_is_moved_aside_and_the_run_resumes_before_it(
    finished_run, tmp_path, size):
  """The command, end to end, on one kind of damage (the next test covers each kind), in
  a short log: Orbax's failed reads are the one warning line."""
  uninterrupted, final = finished_run
  workdir = tmp_path / "run"
  shutil.copytree(uninterrupted, workdir)
  shutil.rmtree(workdir / "generator")  # the level is to finish again
  _truncate_data(workdir / "checkpoints" / "6", size)
  run = _main(workdir)
  assert run.returncode == 0, run.stderr[-3000:]
  assert "The checkpoint of step 6" in run.stderr and "cannot be restored" in run.stderr
  assert "Moved the unreadable checkpoint of step 6" in run.stderr
  assert "from the checkpoint of step 4" in run.stderr
  assert "Traceback" not in run.stderr and "Exception ignored" not in run.stderr
  warnings = [line for line in run.stderr.splitlines() if line[:1] in "WE" and line[1:5].isdigit()]
  assert len(warnings) == 2, warnings  # cannot be restored; moved aside
  # Every start logs the parameter overview (tables of about 85 lines); the rest is short.
  assert len([line for line in run.stderr.splitlines() if line[:1] not in "|+"]) < 100
  (aside,) = (workdir / "checkpoints_unreadable").iterdir()  # kept, not deleted
  assert aside.name.startswith("6.")
  _assert_samesaved_demo_level1_state(saved_demo_level1_state(workdir, 6), final)


def _restore_latest(workdir):
  """What a resuming run restores from ``workdir``: (step, state as host arrays)."""
  config = config_lib.load_config(CONFIG_DIR / "demo_level1.py", "runlocal")
  _, abstract = state_lib.abstract_state(config, runtime.make_mesh(jax.devices()[:1]))
  checkpoints = Checkpoints(workdir)
  try:
    step, state = checkpoints.restore_latest(config, lambda: abstract)
  finally:
    checkpoints.close()
  return step, jax.device_get(nnx.to_pure_dict(state))


@pytest.mark.slow
@pytest.mark.parametrize("damage", DAMAGES, ids=lambda f: f.__name__[1:])
def test_each_kind_of_damage_is_moved_aside_and_the_checkpoint_before_restores(
    finished_run, tmp_path, damage, caplog):
  workdir = tmp_path / "run"
  shutil.copytree(finished_run[0], workdir)
  damage(workdir / "checkpoints" / "6")
  step, state = _restore_latest(workdir)
  assert step == 4
  assert "The checkpoint of step 6" in caplog.text and "cannot be restored" in caplog.text
  (aside,) = (workdir / "checkpoints_unreadable").iterdir()  # kept, not deleted
  assert aside.name.startswith("6.")
  assert sorted(p.name for p in (workdir / "checkpoints").iterdir()) == ["2", "4"]
  _assert_samesaved_demo_level1_state(state, saved_demo_level1_state(finished_run[0], 4))


@pytest.mark.slow
def test_a_checkpoint_without_its_commit_metadata_still_restores(finished_run, tmp_path):
  uninterrupted, final = finished_run
  workdir = tmp_path / "run"
  shutil.copytree(uninterrupted, workdir)
  (workdir / "checkpoints" / "6" / "_CHECKPOINT_METADATA").unlink()
  step, state = _restore_latest(workdir)
  assert step == 6
  _assert_samesaved_demo_level1_state(state, final)
  assert not (workdir / "checkpoints_unreadable").exists()


@pytest.mark.slow
def test_when_no_checkpoint_restores_the_run_stops_and_keeps_them(finished_run, tmp_path):
  workdir = tmp_path / "run"
  shutil.copytree(finished_run[0], workdir)
  for step in (2, 4, 6):
    _garbage_config(workdir / "checkpoints" / str(step))
  run = _main(workdir, "--config.train.num_steps=8")
  assert run.returncode == 1
  last = run.stderr.strip().splitlines()[-1]
  assert last.startswith(f"error: no checkpoint in {workdir / 'checkpoints'} can be restored")
  assert "step 6:" in last and "step 2:" in last
  assert sorted(p.name for p in (workdir / "checkpoints").iterdir()) == ["2", "4", "6"]


@pytest.mark.slow
def test_a_full_disk_during_a_save_stops_with_one_line_and_the_rerun_resumes(finished_run,
                                                                             tmp_path):
  uninterrupted, final = finished_run
  workdir = tmp_path / "run"
  shutil.copytree(uninterrupted, workdir)
  shutil.rmtree(workdir / "checkpoints" / "6")  # as if stopped after step 4
  shutil.rmtree(workdir / "generator")

  # A write past 40 KiB fails (EFBIG, SIGXFSZ ignored) as on a full disk (ENOSPC).
  run = _main(workdir, shell_prefix="trap '' XFSZ; ulimit -f 40",
              JAX_ENABLE_COMPILATION_CACHE="false")
  assert run.returncode == 1, run.stderr[-3000:]
  last = run.stderr.strip().splitlines()[-1]
  assert last.startswith(f"error: a checkpoint could not be saved in {workdir / 'checkpoints'}"
                         ": File too large (errno 27)"), last
  assert "Traceback" not in run.stderr
  assert sorted(p.name for p in (workdir / "checkpoints").iterdir()) == ["2", "4"]
  run = _main(workdir)
  assert run.returncode == 0, run.stderr[-3000:]
  assert "from the checkpoint of step 4" in run.stderr
  _assert_samesaved_demo_level1_state(saved_demo_level1_state(workdir, 6), final)


def _sample(chain, output, *flags, shell_prefix=""):
  command = [PYTHON, "-m", "hvg_jax.sample", f"--chain={chain}", f"--output={output}",
             "--num_videos=1", *flags]
  if shell_prefix:
    command = ["bash", "-c", f'{shell_prefix}; exec "$@"', "bash", *command]
  return subprocess.run(command, cwd=REPO, env=subprocess_env(), capture_output=True,
                        text=True, timeout=600)


def _error_line(run) -> str:
  """The command's one error line, after checking it ended with it and no traceback."""
  assert run.returncode == 1, run.stderr[-3000:]
  assert "Traceback" not in run.stderr and "Exception ignored" not in run.stderr, \
      run.stderr[-3000:]
  return run.stderr.strip().splitlines()[-1]


def _flip_seed(export):
  """One bit of the saved config: its seed 0 becomes 1 (0x30 -> 0x31)."""
  metadata = export / "configs" / "metadata"
  metadata.write_text(metadata.read_text().replace('"seed": 0', '"seed": 1', 1))


EXPORT_DAMAGES = {"truncated to 1000 bytes": lambda e: _truncate_data(e, 1000),
                  "configs deleted": lambda e: (e / "configs" / "metadata").unlink(),
                  "one bit of the config": _flip_seed}


@pytest.mark.slow
def test_a_damaged_or_unwritable_export_is_one_line_naming_it(finished_run, tmp_path):
  export = tmp_path / "export"
  run = subprocess.run([PYTHON, "-m", "hvg_jax.export", f"--chain={finished_run[0]}",
                        f"--output={export}"], cwd=REPO, env=subprocess_env(),
                       capture_output=True, text=True, timeout=600)
  assert run.returncode == 0, run.stderr[-3000:]
  for name, damage in EXPORT_DAMAGES.items():
    damaged = tmp_path / name.replace(" ", "_")
    shutil.copytree(export, damaged)
    damage(damaged)
    last = _error_line(_sample(damaged, tmp_path / "samples"))
    assert last.startswith(f"error: {damaged} is damaged ("), (name, last)
    assert last.endswith("export the chain again from its level workdirs (python -m "
                         "hvg_jax.export), or restore the directory from a copy"), last
    assert not (tmp_path / "samples").exists()
  # A full disk during the export: one line, and nothing that looks like an export.
  run = subprocess.run(["bash", "-c", 'ulimit -f 8; exec "$@"', "bash", PYTHON, "-m",
                        "hvg_jax.export", f"--chain={finished_run[0]}",
                        f"--output={tmp_path / 'full'}"], cwd=REPO, env=subprocess_env(),
                       capture_output=True, text=True, timeout=600)
  last = _error_line(run)
  assert last.startswith(f"error: {tmp_path / 'full'} could not be written: File too large"), last
  assert not list(tmp_path.glob("full*"))


@pytest.mark.slow
def test_a_damaged_generator_is_rebuilt_from_the_levels_checkpoints(finished_run, tmp_path):
  uninterrupted, _ = finished_run
  workdir = tmp_path / "run"
  shutil.copytree(uninterrupted, workdir)
  _truncate_data(workdir / "generator" / "6", 1000)
  last = _error_line(_sample(workdir, tmp_path / "samples"))
  assert last.startswith(f"error: {workdir / 'generator' / '6'} is damaged (OUT_OF_RANGE "), last
  assert last.endswith(f"the level's checkpoints rebuild it: run the command that trained it "
                       f"again (its --config with --workdir={workdir}, or its chain's "
                       "command), then this one"), last
  run = _main(workdir)  # the fix the line names
  assert run.returncode == 0, run.stderr[-3000:]
  assert "The generator of step 6" in run.stderr and "rebuilding it from the checkpoint " \
      "of step 6" in run.stderr
  (rebuilt,) = level_lib.load_export(workdir / "generator" / "6")
  (original,) = level_lib.load_export(uninterrupted / "generator" / "6")
  jax.tree.map(np.testing.assert_array_equal, rebuilt.arrays, original.arrays)
  assert _sample(workdir, tmp_path / "samples").returncode == 0


@pytest.mark.slow
def test_sampling_lengths_that_cannot_be_are_one_line_before_anything_runs(finished_run,
                                                                           tmp_path):
  workdir = finished_run[0]
  huge = _sample(workdir, tmp_path / "huge", "--frames=1000000000")  # was the OOM killer
  last = _error_line(huge)
  assert last.startswith("error: --frames=1000000000: the standing statistics of "
                         "1000000000 frames need"), last
  negative = _error_line(_sample(workdir, tmp_path / "negative", "--frames=-5"))
  assert negative == "error: --frames=-5: the number of frames must be positive (e.g. 1)"
  assert not (tmp_path / "huge").exists() and not (tmp_path / "negative").exists()


@pytest.mark.slow
def test_standing_statistics_of_the_wrong_shapes_are_recomputed_not_broadcast(finished_run,
                                                                              tmp_path):
  workdir = tmp_path / "run"
  shutil.copytree(finished_run[0], workdir)
  first = _sample(workdir, tmp_path / "first", "--frames=12")
  assert first.returncode == 0, first.stderr[-3000:]
  (kept,) = (workdir / "standing_stats").glob("*.npz")
  with np.load(kept) as f:  # every array one timestep short: broadcasting would accept it
    arrays = {k: v[:-1] if v.ndim else v for k, v in f.items()}
  with open(kept, "wb") as f:
    np.savez(f, **arrays)
  again = _sample(workdir, tmp_path / "again", "--frames=12")
  assert again.returncode == 0, again.stderr[-3000:]
  assert f"Ignoring the standing statistics {kept}" in again.stderr
  a, b = (sample_files.load_videos(tmp_path / name) for name in ("first", "again"))
  jax.tree.map(np.testing.assert_array_equal, a, b)


@pytest.mark.slow
def test_a_second_run_on_a_busy_workdir_stops_naming_the_first(tmp_path):
  workdir = tmp_path / "run"
  workdir.mkdir()
  lock = locks.acquire(workdir / "run.lock", what=str(workdir),
                       instead="use another --workdir")  # this test process is the first run
  try:
    for config in ("configs/demo_level1.py:runlocal", "configs/demo.py:runlocal"):
      run = subprocess.run([PYTHON, "-m", "hvg_jax.main", f"--config={config}",
                            f"--workdir={workdir}"], cwd=REPO, env=subprocess_env(),
                           capture_output=True, text=True, timeout=600)
      assert run.returncode == 1
      last = run.stderr.strip().splitlines()[-1]
      assert last.startswith(f"error: {workdir} is in use by another run (host "
                             f"{socket.gethostname()}, pid {os.getpid()}, started "), last
      assert not (workdir / "checkpoints").exists()
  finally:
    locks.release(lock)
  assert not (workdir / "run.lock").exists()


def test_a_lock_left_by_a_dead_process_is_taken_over(tmp_path, caplog):
  gone = subprocess.Popen(["true"])
  gone.wait()
  (tmp_path / "run.lock").write_text(json.dumps(
      {"host": socket.gethostname(), "pid": gone.pid, "started": "then", "command": "x"}))
  with locks.workdir(tmp_path):
    holder = json.loads((tmp_path / "run.lock").read_text())
    assert holder["pid"] == os.getpid()
  assert f"pid {gone.pid}" in caplog.text and "a run that is gone" in caplog.text
  assert not (tmp_path / "run.lock").exists()
  # Another host's lock cannot be checked from here: an error that says how to remove it.
  (tmp_path / "run.lock").write_text(json.dumps(
      {"host": "elsewhere", "pid": 1, "started": "then", "command": "x"}))
  with pytest.raises(locks.LockedError, match="if that run is gone, delete"):
    with locks.workdir(tmp_path):
      pass


@pytest.mark.parametrize("flag,message", [
    ("--config.train.batchsize=4", "error: a config override names no field of the config "
     "(--config.train.batchsize): 'batchsize' Did you mean \"batch_size\""),
    ("--config.train.batch_size=four", "error: flag --config.train.batch_size=four: invalid "
     "literal for int()"),
    ("--config=configs/nothing_here.py", "error: --config: the config file could not be "
     "loaded ([Errno 2] No such file or directory: 'configs/nothing_here.py')"),
    ("--config=configs/demo_level1.py:fast", "error: flag --config=configs/demo_level1.py:fast"
     ": hvg_jax.config_lib.ConfigError: unknown config argument 'fast'"),
])
def test_mistakes_in_the_flags_are_one_line(tmp_path, flag, message):
  run = subprocess.run([PYTHON, "-m", "hvg_jax.main", "--config=configs/demo_level1.py",
                        f"--workdir={tmp_path}", flag], cwd=REPO, env=subprocess_env(),
                       capture_output=True, text=True, timeout=600)
  assert run.returncode == 1
  assert "Traceback" not in run.stderr
  assert run.stderr.strip().splitlines()[-1].startswith(message), run.stderr[-2000:]
