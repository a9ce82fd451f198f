r"""Long videos from a trained chain: time and peak host memory against the length.

  python benchmarks/long_sampling.py --chain=workdirs/demo --frames=64,256,1024,4096 \
      --window=16 --reference_up_to=1024

For each length, ``hvg_jax.sample`` (4 videos) runs in a fresh process each: the papers'
method (standing statistics recomputed over the whole length, ``--standing_window=0``;
only up to ``--reference_up_to`` frames, it takes long), the windowed one
(``--standing_window``) with the statistics cache empty (it computes and keeps them), and
again (it reads them). Prints a Markdown table of wall time and the process's peak
resident memory (ru_maxrss).
"""

import argparse
import shutil
import subprocess
import sys
import tempfile
import time

_PEAK = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True); "
         "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def run(chain, frames, output, *flags):
  """(seconds, peak RSS in MiB) of one sample command, in a process of its own."""
  command = [sys.executable, "-m", "hvg_jax.sample", f"--chain={chain}", f"--frames={frames}",
             "--num_videos=4", f"--output={output}", *flags]
  start = time.time()
  out = subprocess.run([sys.executable, "-c", _PEAK, *command], check=True,
                       capture_output=True, text=True)
  return time.time() - start, int(out.stdout.strip().splitlines()[-1]) / 1024


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--chain", default="workdirs/demo")
  parser.add_argument("--frames", default="64,256,1024,4096")
  parser.add_argument("--window", type=int, default=16)
  parser.add_argument("--reference_up_to", type=int, default=1024)
  args = parser.parse_args()
  print("| frames | method | seconds | peak RSS (MiB) |\n|---|---|---|---|", flush=True)
  for frames in map(int, args.frames.split(",")):
    with tempfile.TemporaryDirectory() as tmp:
      cache = f"{tmp}/cache"
      window = f"--standing_window={args.window}"
      methods = [("windowed, computed and kept", [window, f"--stats_cache={cache}"]),
                 ("windowed, from the cache", [window, f"--stats_cache={cache}"])]
      if frames <= args.reference_up_to:
        methods.insert(0, ("papers' (whole-length passes)",
                           ["--standing_window=0", "--stats_cache="]))
      for method, flags in methods:
        seconds, rss = run(args.chain, frames, f"{tmp}/out", *flags)
        shutil.rmtree(f"{tmp}/out")
        print(f"| {frames} | {method} | {seconds:.1f} | {rss:.0f} |", flush=True)


if __name__ == "__main__":
  main()
