#!/usr/bin/env python3
"""A fake ``gcloud`` (and ``uv``) for the launch scripts' tests: a Cloud TPU slice whose
workers are folders on this machine.

Installed by tests/test_launch.py as ``gcloud`` and ``uv`` on PATH (the name it is called
by picks the role). Every call is appended to ``$FAKE_CLOUD/calls.jsonl``.

- ``gcloud compute tpus tpu-vm scp SRC NAME:DEST --worker=all`` copies SRC into every
  worker's home; ``... ssh NAME --worker=W --command=C`` runs ``bash -c C`` in worker W's
  home (``all``: each in turn), with that home as $HOME. Workers: ``$FAKE_CLOUD/worker<i>``,
  ``$FAKE_WORKERS`` of them.
- ``queued-resources create|delete|describe`` and ``tpu-vm create|delete`` keep the
  resource's state in ``$FAKE_CLOUD/state.json``; ``describe`` answers the next state of the
  comma-separated ``$FAKE_QUEUED_STATES`` (then ACTIVE). Creating one that exists fails as
  gcloud does.
- ``uv venv [--allow-existing|--clear] DIR`` refuses an existing virtualenv without one of
  them, as uv 0.10 and later do; its ``bin/activate`` puts a ``python`` on PATH that records
  its arguments (and prints what setup.sh's check expects). ``uv pip ...`` records.
"""

import json
import os
import pathlib
import shutil
import subprocess
import sys

ROOT = pathlib.Path(os.environ["FAKE_CLOUD"])


def record(argv):
  with open(ROOT / "calls.jsonl", "a", encoding="utf-8") as f:
    f.write(json.dumps({"argv": argv, "home": os.environ.get("HOME", "")}) + "\n")


def workers(spec: str) -> list[pathlib.Path]:
  count = int(os.environ.get("FAKE_WORKERS", "2"))
  ids = range(count) if spec == "all" else [int(spec)]
  return [ROOT / f"worker{i}" for i in ids]


def option(args, name, default=None):
  for a in args:
    if a.startswith(f"--{name}="):
      return a.split("=", 1)[1]
  return default


def state() -> dict:
  path = ROOT / "state.json"
  return json.loads(path.read_text()) if path.exists() else {}


def save_state(s: dict):
  (ROOT / "state.json").write_text(json.dumps(s))


def gcloud(args):
  if args[:3] != ["compute", "tpus", "tpu-vm"] and args[:3] != ["compute", "tpus",
                                                                 "queued-resources"]:
    sys.exit(f"fake gcloud: unsupported command {args}")
  kind, verb, name = args[2], args[3], args[4]
  s = state()
  if verb == "create":
    if name in s:
      sys.exit(f"ERROR: (gcloud.compute.tpus.{kind}.create) {name} already exists")
    s[name] = {"kind": kind, "states": os.environ.get("FAKE_QUEUED_STATES", "").split(",")}
    save_state(s)
    for w in workers("all"):
      w.mkdir(parents=True, exist_ok=True)
  elif verb == "delete":
    if name not in s:
      sys.exit(f"ERROR: (gcloud.compute.tpus.{kind}.delete) NOT_FOUND: {name}")
    del s[name]
    save_state(s)
  elif verb == "describe":
    if name not in s:
      sys.exit(f"ERROR: (gcloud.compute.tpus.{kind}.describe) NOT_FOUND: {name}")
    states = [x for x in s[name]["states"] if x]
    print(states.pop(0) if states else "ACTIVE")
    s[name]["states"] = states
    save_state(s)
  elif verb == "scp":
    source, target = args[4], args[5]
    for w in workers(option(args, "worker", "0")):
      shutil.copy(source, w / target.split(":", 1)[1])
  elif verb == "ssh":
    command = option(args, "command")
    for w in workers(option(args, "worker", "0")):
      env = dict(os.environ, HOME=str(w))
      result = subprocess.run(["bash", "-c", command], cwd=w, env=env, check=False)
      if result.returncode:
        sys.exit(result.returncode)
  else:
    sys.exit(f"fake gcloud: unsupported verb {verb}")


FAKE_PYTHON = """#!/usr/bin/env bash
printf '%s\\n' "$*" >> "$HOME/python_calls.txt"
if [[ "$1" == -c ]]; then echo "0 8 tpu"; fi
"""


def uv(args):
  if args[:1] == ["venv"]:
    target = pathlib.Path(args[-1])
    if (target / "bin" / "activate").exists() and not {"--allow-existing", "--clear"} & set(args):
      print(f"error: Failed to create virtual environment\n  Caused by: A virtual environment "
            f"already exists at `{target}`. Use `--clear` to replace it", file=sys.stderr)
      sys.exit(2)
    (target / "bin").mkdir(parents=True, exist_ok=True)
    (target / "bin" / "activate").write_text(f'export PATH="{target}/bin:$PATH"\n')
    python = target / "bin" / "python"
    python.write_text(FAKE_PYTHON)
    python.chmod(0o755)
  elif args[:1] != ["pip"]:
    sys.exit(f"fake uv: unsupported command {args}")


def main():
  role = pathlib.Path(sys.argv[0]).name
  record([role] + sys.argv[1:])
  (gcloud if role == "gcloud" else uv)(sys.argv[1:])


if __name__ == "__main__":
  main()
