r"""Time from a training command's start to its first step: a fresh run, a restarted run with
the persistent compilation cache (--compilation_cache, default <workdir>/compilation_cache)
and a restarted run without it, as after a preemption or a SLURM requeue.

  python benchmarks/restart_time.py [--config=configs/demo_level1.py] [--repeats=2]

Each run is ``python -m hvg_jax.main`` in its own process; the time is from its start to
the log line of its first step (log_every=1). The fresh run trains one step and checkpoints;
each restart resumes from that checkpoint and is stopped after its first step.
"""

import argparse
import pathlib
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
STEP_LINE = re.compile(r"\] \[(\d+)\] ")


def time_to_first_step(config: str, workdir: pathlib.Path, num_steps: int,
                       cache: str) -> float:
  command = [sys.executable, "-m", "hvg_jax.main", f"--config={config}",
             f"--workdir={workdir}", f"--config.train.num_steps={num_steps}",
             "--config.train.log_every=1", f"--compilation_cache={cache}"]
  start = time.time()
  run = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True)
  seconds = None
  for line in run.stdout:
    if STEP_LINE.search(line) and seconds is None:
      seconds = time.time() - start
      if num_steps > 1:  # a restart: its first step is all we time
        run.kill()
        break
  run.wait()
  if seconds is None:
    raise SystemExit(f"{' '.join(command)} ended (exit {run.returncode}) before a step")
  return seconds


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--config", default="configs/demo_level1.py")
  parser.add_argument("--repeats", type=int, default=2)
  args = parser.parse_args()
  results = {"fresh (empty cache)": [], "restart with the cache": [],
             "restart without the cache": []}
  for _ in range(args.repeats):
    workdir = pathlib.Path(tempfile.mkdtemp(prefix="hvg_restart_"))
    try:
      results["fresh (empty cache)"].append(
          time_to_first_step(args.config, workdir, 1, "auto"))
      results["restart with the cache"].append(
          time_to_first_step(args.config, workdir, 2, "auto"))
      results["restart without the cache"].append(
          time_to_first_step(args.config, workdir, 2, "off"))
    finally:
      shutil.rmtree(workdir, ignore_errors=True)
  print(f"{args.config}: seconds from start to the first step (median of {args.repeats})")
  for name, times in results.items():
    print(f"  {name:28s} {statistics.median(times):6.1f} s  ({', '.join(f'{t:.1f}' for t in times)})")
  cached, uncached = (statistics.median(results[k]) for k in
                      ("restart with the cache", "restart without the cache"))
  print(f"  restart: {uncached / cached:.1f}x faster with the cache")


if __name__ == "__main__":
  main()
