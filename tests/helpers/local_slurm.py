"""A real one-node SLURM cluster on this machine for the launch scripts' test: munged,
slurmctld and slurmd (Debian's slurm-wlm) with their own configuration, state and ports in a
temporary folder, stopped by process id afterwards.

``start(folder)`` returns a Cluster or raises Unavailable with the reason (not root, no
apt, the daemons would not start): the test is then skipped with that reason.
"""

import dataclasses
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import tempfile
import time

PACKAGES = ("slurm-wlm", "munge")
DAEMONS = ("munged", "slurmctld", "slurmd")


class Unavailable(Exception):
  """No local SLURM can run here; the message says why."""


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def install():
  """Debian's slurm-wlm and munge, installed with apt when missing."""
  if all(shutil.which(d) or os.path.exists(f"/usr/sbin/{d}") for d in DAEMONS):
    return
  if os.geteuid() != 0:
    raise Unavailable("slurm-wlm is not installed and installing it needs root")
  if not shutil.which("apt-get"):
    raise Unavailable("slurm-wlm is not installed and there is no apt-get to install it")
  env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
  for command in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", *PACKAGES]):
    try:
      out = subprocess.run(command, capture_output=True, text=True, env=env, timeout=240)
    except subprocess.TimeoutExpired:
      raise Unavailable(f"{' '.join(command)} took more than 4 minutes") from None
    if out.returncode:
      raise Unavailable(f"{' '.join(command)} failed: {out.stderr.strip()[-300:]}")


@dataclasses.dataclass
class Cluster:
  folder: pathlib.Path
  env: dict  # SLURM_CONF for the client commands
  pids: dict
  munge: pathlib.Path

  def run(self, *command, check=True, env=None) -> str:
    out = subprocess.run(command, capture_output=True, text=True, env=env or self.env,
                         timeout=60)
    if check and out.returncode:
      raise RuntimeError(f"{' '.join(command)}: {out.stderr.strip()}")
    return out.stdout

  def job(self, job_id: str) -> dict:
    """scontrol's fields of a job (JobState, Restarts, ...)."""
    text = self.run("scontrol", "show", "job", job_id)
    return dict(word.split("=", 1) for word in text.split() if "=" in word)

  def stop(self):
    """Ends every job (its processes killed), then the daemons."""
    self.run("scancel", "--signal=KILL", "--full", "--user=root", check=False)
    self.run("scancel", "--user=root", check=False)
    deadline = time.time() + 30
    while time.time() < deadline and self.run("squeue", "-h", check=False).strip():
      time.sleep(0.5)
    # What is left of a job step: scontrol's rows "PID JOBID STEPID LOCALID GLOBALID".
    for row in self.run("scontrol", "listpids", check=False).splitlines()[1:]:
      pid = row.split()[0] if row.split() else ""
      if pid.isdigit() and int(pid) > 1:
        try:
          os.kill(int(pid), signal.SIGKILL)
        except ProcessLookupError:
          pass
    for name in reversed(DAEMONS):
      pid = self.pids.get(name)
      if pid:
        try:
          os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
          pass
    deadline = time.time() + 20
    for pid in self.pids.values():
      while time.time() < deadline:
        try:
          os.kill(pid, 0)
        except ProcessLookupError:
          break
        time.sleep(0.2)
      else:
        try:
          os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
          pass
    shutil.rmtree(self.munge, ignore_errors=True)


def _read_pid(path: pathlib.Path, timeout: float = 20) -> int:
  deadline = time.time() + timeout
  while time.time() < deadline:
    if path.exists() and path.read_text().strip():
      return int(path.read_text().split()[0])
    time.sleep(0.1)
  raise Unavailable(f"{path.name} did not appear: the daemon did not start")


def start(folder: pathlib.Path, cpus: int, memory_mb: int) -> Cluster:
  """One node (this host, ``cpus`` CPUs, ``memory_mb`` of memory) in one partition."""
  if os.geteuid() != 0:
    raise Unavailable("a local SLURM's daemons run as root here; the tests do not")
  install()
  host = socket.gethostname().split(".")[0]
  for sub in ("state", "spool", "log"):
    (folder / sub).mkdir(parents=True, exist_ok=True)
  # munged runs as the munge user: its folder where that user reaches it (pytest's
  # temporary folders are private to root).
  munge = pathlib.Path(tempfile.mkdtemp(prefix="hvg_jax_munge_"))
  munge.chmod(0o755)
  shutil.chown(munge, "munge", "munge")
  pids = {}
  socket_path = munge / "munge.socket"
  out = subprocess.run(
      ["runuser", "-u", "munge", "--", "/usr/sbin/munged", f"--socket={socket_path}",
       f"--pid-file={munge / 'munged.pid'}", f"--log-file={munge / 'munged.log'}",
       f"--seed-file={munge / 'seed'}"], capture_output=True, text=True, timeout=30)
  if out.returncode:
    shutil.rmtree(munge, ignore_errors=True)
    raise Unavailable(f"munged would not start: {out.stderr.strip()}")
  pids["munged"] = _read_pid(munge / "munged.pid")
  conf = folder / "slurm.conf"
  conf.write_text(f"""\
ClusterName=hvgtest
SlurmctldHost={host}
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
AuthType=auth/munge
AuthInfo=socket={socket_path}
CryptoType=crypto/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation={folder / 'state'}
SlurmdSpoolDir={folder / 'spool'}
SlurmctldPidFile={folder / 'slurmctld.pid'}
SlurmdPidFile={folder / 'slurmd.pid'}
SlurmctldLogFile={folder / 'log' / 'slurmctld.log'}
SlurmdLogFile={folder / 'log' / 'slurmd.log'}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
ReturnToService=2
KillWait=30
NodeName={host} CPUs={cpus} RealMemory={memory_mb} State=UNKNOWN
PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP
""")
  env = dict(os.environ, SLURM_CONF=str(conf))
  cluster = Cluster(folder, env, pids, munge)
  try:
    for daemon in ("slurmctld", "slurmd"):
      out = subprocess.run([f"/usr/sbin/{daemon}", "-f", str(conf)], capture_output=True,
                           text=True, env=env, timeout=30)
      if out.returncode:
        raise Unavailable(f"{daemon} would not start: {out.stderr.strip()}")
      pids[daemon] = _read_pid(folder / f"{daemon}.pid")
    deadline = time.time() + 30
    while "idle" not in cluster.run("sinfo", "-h", "-o", "%t", check=False):
      if time.time() > deadline:
        log = (folder / "log" / "slurmd.log").read_text()[-500:]
        raise Unavailable(f"the node did not come up idle: {log}")
      time.sleep(0.5)
  except BaseException:
    cluster.stop()
    raise
  return cluster
