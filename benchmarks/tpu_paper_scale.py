r"""Every paper configuration sized for Cloud TPU by the real TPU compiler (hvg_jax.sizing).

  python benchmarks/tpu_paper_scale.py run [--only=kinetics_level2,...] [--generation=v5p]
  python benchmarks/tpu_paper_scale.py table        # the Markdown table of BENCHMARKS.md

``run`` finds, for each configuration at the papers' global batch (512) in bfloat16, the
largest power-of-two per-chip batch that fits a chip, i.e. the smallest slice that holds
the batch (512 / per-chip batch chips), by compiling: one compile per candidate, on the
generation's one-host slice at that per-chip batch (a data-parallel program's per-chip
figures depend on the per-chip batch, not on the number of chips; README "Will it fit?"
shows both on one configuration). Each compile runs in its own process (the compiler's host
memory is returned) and writes one JSON file under --results; files already there are
reused, so an interrupted run continues where it stopped. Paper-size compiles take 20-40
minutes each on 2 cores: run it in the background.

Candidates: from --start (per configuration, a guess), doubled while it fits, halved
while it does not, up to --max_batch (the compiler's host memory grows with the per-chip
batch) and at most 512 / 4. ``table`` says where the next batch up was not compiled, and
predicts it from the compiled points where there are two.
"""

import argparse
import json
import pathlib
import subprocess
import sys
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

GLOBAL_BATCH = 512

# (label, the levels' config files, level 1 first, the level sized, a first per-chip guess)
PAPER = [
    ("Kinetics level 2 (HVG)", ["kinetics_level1", "kinetics_level2"], 16),
    ("BDD100K level 3 (HVG)", ["bdd_level1", "bdd_level2", "bdd_level3"], 4),
    ("SSW-GAN stage 3 (BDD100K)", ["ssw_bdd_level1", "ssw_bdd_level2", "ssw_bdd_level3"], 4),
    ("DVD-GAN 12/64", ["dvdgan_kinetics_12x64"], 32),
    ("DVD-GAN 12/128", ["dvdgan_kinetics_12x128"], 8),
    ("DVD-GAN 48/64", ["dvdgan_kinetics_48x64"], 8),
    ("DVD-GAN 48/128", ["dvdgan_kinetics_48x128"], 2),
    ("Kinetics level 1 (HVG)", ["kinetics_level1"], 32),
    ("Kinetics level 2, 3-frame windows", ["kinetics_level1", "kinetics_level2_window3"], 16),
    ("BDD100K level 1 (HVG)", ["bdd_level1"], 32),
    ("BDD100K level 2 (HVG)", ["bdd_level1", "bdd_level2"], 16),
    ("UCF101 level 1 (CVG)", ["ucf101_level1"], 32),
    ("UCF101 level 2 (CVG)", ["ucf101_level1", "ucf101_level2"], 16),
    ("SSW-GAN stage 1 (BDD100K)", ["ssw_bdd_level1"], 16),
    ("SSW-GAN stage 2 (BDD100K)", ["ssw_bdd_level1", "ssw_bdd_level2"], 16),
]
# The input pipeline's measured rate, clips per second per host CPU core, at each stored
# size: benchmarks/data_pipeline.py (BENCHMARKS.md "Input pipeline"; 2 reader threads on 2
# cores, 2026-11-22, halved) for 12-frame runs read from 48-frame stored clips; a clip's
# cost is taken as its stored frames (at least 48), at the nearest size at or above it.
PIPELINE_CLIPS_PER_CORE = {64: 117.9 / 2, 128: 102.9 / 2, 256: 51.0 / 2}


def host_cores(resolution: int, frames: int, clips_per_s: float) -> float:
  size = min(r for r in PIPELINE_CLIPS_PER_CORE if r >= resolution)
  return clips_per_s / (PIPELINE_CLIPS_PER_CORE[size] * 48 / max(48, frames))


# 4-chip one-host slices of each generation (per-chip figures equal a larger slice's).
ONE_HOST = {"v5p": "v5p-8", "v4": "v4-8", "v6e": "v6e-4", "v5litepod": "v5litepod-4"}


def slices_for(generation: str, chips: int) -> tuple[str, int]:
  """The slice of ``chips`` chips, or a Multislice of the largest slices where the
  generation has none that large (v6e: 256 chips), and its hosts."""
  from hvg_jax import tpu_slices  # pylint: disable=import-outside-toplevel
  largest = tpu_slices.parse(ONE_HOST[generation]).chip.max_chips
  if chips <= largest:
    one = tpu_slices.with_chips(generation, chips)
    return one.name, one.hosts
  one = tpu_slices.with_chips(generation, largest)
  return f"{chips // largest} x {one.name} (Multislice)", chips // largest * one.hosts


def result_path(results: pathlib.Path, configs: list[str], generation: str, batch: int,
                dtype: str, remat: bool) -> pathlib.Path:
  return results / (f"{configs[-1]}_{generation}_b{batch}_{dtype}"
                    f"{'_remat' if remat else ''}.json")


def compile_one(configs: list[str], one_host: str, batch: int, dtype: str, remat: bool,
                out: pathlib.Path) -> dict:
  """One compile in this process; writes ``out``."""
  from hvg_jax import config_lib, sizing, tpu_slices  # pylint: disable=import-outside-toplevel
  levels = [config_lib.load_config(REPO / "configs" / f"{name}.py") for name in configs]
  config_lib.check_levels(levels)
  tpu_slice = tpu_slices.parse(one_host)
  start = time.time()
  s = sizing.size_training(levels, len(levels), tpu_slice, batch_per_chip=batch, dtype=dtype,
                           remat=remat)
  result = s.as_dict()
  result["wall_s"] = time.time() - start
  import resource  # pylint: disable=import-outside-toplevel
  result["host_peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
  out.parent.mkdir(parents=True, exist_ok=True)
  tmp = out.with_suffix(".tmp")
  tmp.write_text(json.dumps(result, indent=1))
  tmp.replace(out)
  return result


def sized(configs, generation, batch, dtype, remat, results) -> dict:
  """The result of one compile: from --results, or compiled now in a child process."""
  out = result_path(results, configs, generation, batch, dtype, remat)
  if not out.exists():
    command = [sys.executable, __file__, "one", f"--configs={','.join(configs)}",
               f"--slice={ONE_HOST[generation]}", f"--batch={batch}", f"--dtype={dtype}",
               f"--out={out}"] + (["--remat"] if remat else [])
    print(f"  compiling {configs[-1]} at {batch} per chip on {ONE_HOST[generation]}"
          f"{' with remat' if remat else ''} ({time.strftime('%H:%M')})...", flush=True)
    subprocess.run(command, check=True)
  return json.loads(out.read_text())


def search(configs, start, generation, dtype, remat, results,
           max_batch) -> tuple[dict | None, dict]:
  """(the result at the largest fitting power-of-two per-chip batch up to ``max_batch``,
  or None; every result by batch)."""
  top = min(GLOBAL_BATCH // 4, max_batch)  # 4 chips of one host hold the whole batch
  tried = {}
  b = start
  while 1 <= b <= top:
    r = tried[b] = sized(configs, generation, b, dtype, remat, results)
    print(f"  {configs[-1]} {b} per chip: {'fits' if r['fits'] else 'does not fit'}, "
          f"{(r['memory_bytes'] or 0) / 2**30:.1f} GiB", flush=True)
    if r["fits"]:
      if 2 * b > top or (2 * b in tried and not tried[2 * b]["fits"]):
        break
      b *= 2
    else:
      if b // 2 in tried and tried[b // 2]["fits"]:
        b //= 2
        break
      b //= 2
  best = tried.get(b) if b in tried and tried[b]["fits"] else None
  return best, tried


def run(args):
  results = pathlib.Path(args.results)
  only = set(filter(None, args.only.split(",")))
  for label, configs, start in PAPER:
    if only and configs[-1] not in only:
      continue
    print(f"{label}:", flush=True)
    best, _ = search(configs, min(args.start or start, args.max_batch), args.generation,
                     args.dtype, args.remat, results, args.max_batch)
    if best is None:
      print(f"  does not fit one video per {args.generation} chip", flush=True)


def affine_prediction(found: dict, hbm: float, top: int) -> int | None:
  """The largest power-of-two per-chip batch within ``hbm`` by the line through the
  compiled points' memory (at least two batches), or None."""
  points = sorted((b, r["memory_bytes"]) for b, r in found.items() if r["memory_bytes"])
  if len(points) < 2:
    return None
  (b0, m0), (b1, m1) = points[0], points[-1]
  per_video = (m1 - m0) / (b1 - b0)
  largest = b0 + (hbm - m0) / per_video
  b = 1
  while 2 * b <= min(largest, top):
    b *= 2
  return b


def table(args):
  """The Markdown table from --results: each configuration at the largest per-chip batch
  compiled that fits, the slice that gives the global batch of 512 at it, and whether a
  smaller slice would hold it (the next batch up compiled, or predicted)."""
  from hvg_jax import config_lib, tpu_slices  # pylint: disable=import-outside-toplevel
  results = pathlib.Path(args.results)
  top = GLOBAL_BATCH // 4
  rows = ["| configuration | precision | per-chip batch | slice for batch 512 (chips) | "
          "per-chip memory (of HBM) | s / iteration (estimate) | utilisation (estimate) | "
          "steps | days (estimate) | chip-hours (estimate) | a smaller slice? | "
          "clips/s per host to feed (estimate) | host cores for it |",
          "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
  for label, configs, _ in PAPER:
    data = config_lib.load_config(REPO / "configs" / f"{configs[-1]}.py").data
    for generation in ("v5p", "v6e", "v4", "v5litepod"):
      for dtype in ("bfloat16", "float32"):
        for remat in (False, True):
          found = {}
          for b in [2 ** i for i in range(8)]:
            path = result_path(results, configs, generation, b, dtype, remat)
            if path.exists():
              found[b] = json.loads(path.read_text())
          if not found:
            continue
          fitting = [b for b, r in found.items() if r["fits"]]
          precision = f"{dtype}{', remat' if remat else ''}, {generation}"
          if not fitting:
            b = min(found)
            need = found[b]["memory_bytes"]
            rows.append(f"| {label} | {precision} | {b}: does not fit | – | needs "
                        f"{'?' if need is None else f'{need / 2**30:.1f}'} of "
                        f"{found[b]['hbm_bytes'] / 2**30:.1f} GiB | | | | | | | | |")
            continue
          b = max(fitting)
          r = found[b]
          chips = GLOBAL_BATCH // b
          name, hosts = slices_for(generation, chips)
          chip = tpu_slices.parse(ONE_HOST[generation]).chip
          up = found.get(2 * b)
          if 2 * b > top:
            smaller = "no: the whole batch on one host"
          elif up is not None:
            smaller = (f"no: {2 * b} per chip needs {(up['memory_bytes'] or 0) / 2**30:.1f} "
                       "GiB (compiled)")
          else:
            predicted = affine_prediction(found, r["hbm_bytes"], top)
            smaller = ("not compiled" if predicted is None else
                       f"predicted: {predicted} per chip, "
                       f"{slices_for(generation, GLOBAL_BATCH // predicted)[0]} "
                       "(line through the compiled points; not compiled)")
          # The cost model's time, else (v6e) the roofline's, as hvg_jax.sizing recorded it.
          seconds = r.get("iteration_s", r["estimated_s"])
          roofline = " (roofline)" if r.get("time_source") == "roofline" else ""
          days = r["num_steps"] * seconds / 86400
          clips = GLOBAL_BATCH * r["d_steps"] / hosts / seconds  # a batch per D step
          cores = host_cores(data.resolution, data.frames, clips)
          rows.append(
              f"| {label} | {precision} | {b} | {name} ({chips}) | "
              f"{r['memory_bytes'] / 2**30:.1f} of {r['hbm_bytes'] / 2**30:.1f} GiB | "
              f"{seconds:.3f}{roofline} | {100 * r['estimated_utilisation']:.0f}%{roofline} | "
              f"{r['num_steps']:,} | {days:.1f} | {days * 24 * chips:,.0f} | {smaller} | "
              f"{clips:,.0f} | {cores:.1f} of {chip.host_vcpus} vCPUs (4-chip host) |")
  print("\n".join(rows))


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  sub = parser.add_subparsers(dest="command", required=True)
  r = sub.add_parser("run")
  r.add_argument("--only", default="", help="comma-separated top config names")
  r.add_argument("--generation", default="v5p", choices=sorted(ONE_HOST))
  r.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float32"])
  r.add_argument("--remat", action="store_true")
  r.add_argument("--start", type=int, default=0, help="first per-chip batch (default: "
                 "each configuration's guess)")
  r.add_argument("--max_batch", type=int, default=16, help="largest per-chip batch "
                 "compiled: the compiler's host memory grows with it (Kinetics level 2 at "
                 "16 per chip peaked at 19 GB), a 24 GB machine compiles up to 16")
  r.add_argument("--results", default=str(REPO / "results" / "tpu_sizing"))
  t = sub.add_parser("table")
  t.add_argument("--results", default=str(REPO / "results" / "tpu_sizing"))
  o = sub.add_parser("one")
  o.add_argument("--configs", required=True)
  o.add_argument("--slice", required=True)
  o.add_argument("--batch", type=int, required=True)
  o.add_argument("--dtype", required=True)
  o.add_argument("--remat", action="store_true")
  o.add_argument("--out", required=True)
  args = parser.parse_args()
  if args.command == "run":
    run(args)
  elif args.command == "table":
    table(args)
  else:
    compile_one(args.configs.split(","), args.slice, args.batch, args.dtype, args.remat,
                pathlib.Path(args.out))


if __name__ == "__main__":
  main()
