r"""Training memory against total output length: the papers' memory figure (HVG Figure 5).

  python benchmarks/memory_vs_length.py --output_dir=/tmp/memory_figure
  python benchmarks/memory_vs_length.py --lengths=24,96,192 --dtype=bfloat16 --jobs=2
  python benchmarks/memory_vs_length.py --run --output_dir=...   # on a GPU: allocator peaks
  python benchmarks/memory_vs_length.py --topology=v5p-8 --dtype=bfloat16 \
      --lengths=24,48,96,192,384 --models=level1,level2   # by the TPU compiler, per chip

A two-level HVG making T-frame 128x128 videos (HVG 5.3): level 1 generates T/2 frames at
64x64 (DVD-GAN's Kinetics 64x64 model, frame stride 4); level 2 upsamples windows of 6
level-1 frames into 12 frames at 128x128 (configs/kinetics_level2.py with a 64x64 input),
whatever T is, its frozen level 1 generating the T/2-frame videos the windows come from
just before each update (a program of its own, whose memory is shown apart); and the
one-level model of the same output, DVD-GAN's 128x128 model at T frames. For each model
and T: one training iteration (2 D steps and 1 G step, ``--batch_per_device`` videos)
compiled on shapes alone, and the memory XLA's analysis says its update needs on one
device (arguments + outputs + temporaries - aliased donations).
With ``--topology`` (a Cloud TPU accelerator type; libtpu, the ``tpu`` extra) the points are
compiled by the real TPU compiler for that slice's chips, ``--batch_per_device`` videos on
each, and the memory is per chip.
With ``--run`` each point also allocates and runs one iteration in a fresh process and
reads the allocator's peak (GPUs and TPUs report it; a CPU does not).

Writes memory.json, memory.md (a table) and memory.png (the plot) to --output_dir; each
point compiles in its own process (``--jobs`` at once), which keeps allocator peaks apart.
"""

import argparse
import concurrent.futures
import json
import os
import pathlib
import subprocess
import sys

_REPO = pathlib.Path(__file__).resolve().parents[1]
_CONFIGS = _REPO / "configs"
MODELS = {
    "level1": "HVG level 1 (T/2 frames at 64x64)",
    "level2": "HVG level 2 (6 -> 12 frame windows at 128x128)",
    "one_level": "one-level model (T frames at 128x128)",
}
INPUTS_LABEL = "level 2's inputs: frozen level 1 generating (inference)"


def training_bytes(point) -> int:
  """The update program's memory (the last program of the iteration)."""
  return point["memory_bytes_per_program"][-1]["total"]


def inputs_bytes(point) -> int | None:
  """An upsampling level's inputs program's memory (None for level 1)."""
  programs = point["memory_bytes_per_program"]
  return programs[0]["total"] if len(programs) > 1 else None


def figure_configs(total_frames: int, batch_size: int, dtype: str):
  """{model: (config, lower level configs)} for a T-frame 128x128 output."""
  from hvg_jax import config_lib
  if total_frames % 4:
    raise ValueError(f"{total_frames} frames: the total length must be a multiple of 4 "
                     "(level 1 makes half of it, in multiples of 2 for level 2's windows)")
  level1 = config_lib.load_config(_CONFIGS / "dvdgan_kinetics_12x64.py")
  level1.name = f"hvg_level1_{total_frames // 2}x64"
  level1.data.update(frames=total_frames // 2, subsample=4)
  level2 = config_lib.load_config(_CONFIGS / "kinetics_level2.py")
  level2.name = f"hvg_level2_of_{total_frames}x128"
  level2.data.frames = total_frames
  level2.model.input.update(frames=total_frames // 2, resolution=64, subsample=4)
  one_level = config_lib.load_config(_CONFIGS / "dvdgan_kinetics_12x128.py")
  one_level.name = f"one_level_{total_frames}x128"
  one_level.data.frames = total_frames
  for c in (level1, level2, one_level):
    c.train.batch_size = batch_size
    c.model.dtype = dtype
    config_lib.validate(c)
  config_lib.check_levels([level1, level2])
  return {"level1": (level1, []), "level2": (level2, [level1]), "one_level": (one_level, [])}


def measure_point(model: str, total_frames: int, batch_per_device: int, dtype: str,
                  run: bool, topology: str | None = None) -> dict:
  """One figure point, in this process."""
  import jax
  from hvg_jax import programs
  from hvg_jax import runtime
  from hvg_jax import tpu_slices
  devices = tpu_slices.devices(topology) if topology else jax.devices()
  config, lower = figure_configs(total_frames, batch_per_device * len(devices), dtype)[model]
  mesh = runtime.make_mesh(devices)
  _, _, figures = programs.compile_training(config, lower, mesh, abstract=True)
  out = {"model": model, "total_frames": total_frames, "config": config.name,
         "batch_per_device": batch_per_device, "dtype": dtype,
         "device": devices[0].device_kind + (f" ({topology})" if topology else ""),
         **figures}
  if run:
    compiled, (state, batch, lower_arrays), _ = programs.compile_training(config, lower, mesh)
    state, metrics = compiled(state, batch, lower_arrays)
    jax.block_until_ready(metrics)
    stats = jax.devices()[0].memory_stats() or {}
    out["allocator_peak_bytes"] = stats.get("peak_bytes_in_use")
  return out


def _point_in_subprocess(model, total_frames, args) -> dict:
  command = [sys.executable, __file__, f"--point={model}:{total_frames}",
             f"--batch_per_device={args.batch_per_device}", f"--dtype={args.dtype}"]
  if args.run:
    command.append("--run")
  if args.topology:
    command.append(f"--topology={args.topology}")
  done = subprocess.run(command, capture_output=True, text=True, cwd=_REPO)
  if done.returncode:
    raise RuntimeError(f"{model} at {total_frames} frames failed:\n{done.stderr[-3000:]}")
  return json.loads(done.stdout.strip().splitlines()[-1])


def reach(points: list[dict], model: str, budget: float) -> float | None:
  """Frames a model reaches within ``budget`` bytes, from a line through its points."""
  import numpy as np
  rows = sorted((p["total_frames"], training_bytes(p)) for p in points
                if p["model"] == model)
  if len(rows) < 2:
    return None
  slope, intercept = np.polyfit(*zip(*rows), 1)
  return None if slope <= 0 else float((budget - intercept) / slope)


def write_outputs(points: list[dict], output_dir: pathlib.Path, budget_gib: float):
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  output_dir.mkdir(parents=True, exist_ok=True)
  lengths = sorted({p["total_frames"] for p in points})
  table = {(p["model"], p["total_frames"]): p for p in points}
  gib = lambda p: training_bytes(p) / 2 ** 30  # noqa: E731
  first = points[0]
  lines = [f"Training memory per device (XLA memory analysis of the update), batch "
           f"{first['batch_per_device']} per device, {first['dtype']}, on "
           f"{first['device']}.", "",
           "| model | " + " | ".join(f"{t} frames" for t in lengths) + " |",
           "|---|" + "---|" * len(lengths)]
  fig, ax = plt.subplots(figsize=(6.4, 4.2))
  for model, label in MODELS.items():
    row = [table.get((model, t)) for t in lengths]
    lines.append(f"| {label} | " + " | ".join(
        "–" if p is None else f"{gib(p):.2f} GiB" for p in row) + " |")
    xs = [t for t, p in zip(lengths, row) if p is not None]
    if xs:
      ax.plot(xs, [gib(table[(model, t)]) for t in xs], marker="o", label=label)
  inputs = [(t, inputs_bytes(table[("level2", t)]) / 2 ** 30) for t in lengths
            if ("level2", t) in table]
  if inputs:
    by_length = dict(inputs)
    lines.append(f"| {INPUTS_LABEL} | " + " | ".join(
        "–" if t not in by_length else f"{by_length[t]:.2f} GiB" for t in lengths) + " |")
    ax.plot(*zip(*inputs), marker=".", linestyle="--", color="C1", label=INPUTS_LABEL)
  if any("allocator_peak_bytes" in p for p in points):
    lines.append("")
    lines.append("Allocator peaks (one iteration run, `--run`):")
    for model, label in MODELS.items():
      lines.append(f"| {label} | " + " | ".join(
          "–" if table.get((model, t), {}).get("allocator_peak_bytes") is None else
          f"{table[(model, t)]['allocator_peak_bytes'] / 2 ** 30:.2f} GiB"
          for t in lengths) + " |")
  budget = budget_gib * 2 ** 30
  hvg, one = reach(points, "level1", budget), reach(points, "one_level", budget)
  level2 = [(p["total_frames"], gib(p)) for p in points if p["model"] == "level2"]
  if level2:
    values = [v for _, v in level2]
    lines += ["", f"Level 2: {min(values):.3f} to {max(values):.3f} GiB over "
              f"{min(level2)[0]} to {max(level2)[0]} frames."]
  if hvg is not None and one is not None:
    lines.append(f"Within {budget_gib:g} GiB per device (lines through the points): HVG's "
                 f"level 1 reaches {hvg:.0f} frames of output, the one-level model "
                 f"{one:.0f} ({hvg / one:.2f}x).")
  ax.axhline(budget_gib, color="gray", linestyle=":", label=f"{budget_gib:g} GiB")
  ax.set_xlabel("total output frames (128x128)")
  ax.set_ylabel("training memory per device (GiB)")
  ax.set_title(f"Training memory vs length, batch {first['batch_per_device']}, "
               f"{first['dtype']}")
  ax.legend(fontsize=8)
  ax.grid(alpha=0.3)
  fig.tight_layout()
  fig.savefig(output_dir / "memory.png", dpi=120)
  plt.close(fig)
  (output_dir / "memory.json").write_text(json.dumps(points, indent=2))
  text = "\n".join(lines) + "\n"
  (output_dir / "memory.md").write_text(text)
  return text


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--lengths", default="24,48,96,144,192",
                      help="total output frames, comma separated (multiples of 4)")
  parser.add_argument("--models", default=",".join(MODELS), help="of " + ", ".join(MODELS))
  parser.add_argument("--batch_per_device", type=int, default=1)
  parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"))
  parser.add_argument("--run", action="store_true",
                      help="also run one iteration per point and read the allocator peak")
  parser.add_argument("--budget_gib", type=float, default=32.0,
                      help="memory per device for the frames-reached line (HVG: 32 GB)")
  parser.add_argument("--jobs", type=int, default=1, help="points compiled at once")
  parser.add_argument("--topology", help="compile for this Cloud TPU slice (e.g. v5p-8) "
                      "with the TPU compiler; memory per chip")
  parser.add_argument("--output_dir", default="memory_figure")
  parser.add_argument("--reuse", default="", help="output folders of earlier runs whose "
                      "points (same models, lengths and device) are reused, not compiled")
  parser.add_argument("--reuse_only", action="store_true", help="with --reuse: compile "
                      "nothing, draw the points there are")
  parser.add_argument("--point", help=argparse.SUPPRESS)  # model:frames, one point here
  args = parser.parse_args()

  if args.point:
    model, frames = args.point.split(":")
    print(json.dumps(measure_point(model, int(frames), args.batch_per_device, args.dtype,
                                   args.run, args.topology)))
    return
  models = args.models.split(",")
  unknown = sorted(set(models) - set(MODELS))
  if unknown:
    parser.error(f"--models: unknown {unknown}; choose from {', '.join(MODELS)}")
  try:
    lengths = [int(t) for t in args.lengths.split(",")]
    for t in lengths:
      figure_configs(t, args.batch_per_device, args.dtype)  # bad lengths fail before compiles
  except ValueError as e:
    parser.error(f"--lengths: {e}")
  if args.topology:
    if args.run:
      parser.error("--run with --topology: compile-only TPU devices cannot run a program")
    from hvg_jax import config_lib, tpu_slices  # pylint: disable=import-outside-toplevel
    try:
      tpu_slices.parse(args.topology)
      tpu_slices.require_libtpu()
    except config_lib.ConfigError as e:
      parser.error(str(e))
  work = [(m, t) for t in lengths for m in models]
  points = []
  for folder in filter(None, args.reuse.split(",")):  # points compiled by an earlier run
    for point in json.loads((pathlib.Path(folder) / "memory.json").read_text()):
      if (point["model"], point["total_frames"]) in work and point["device"].endswith(
          f"({args.topology})" if args.topology else ""):
        work.remove((point["model"], point["total_frames"]))
        points.append(point)
  if args.reuse_only:  # the table and plot of the points there are, nothing compiled
    work = []
  with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
    futures = {pool.submit(_point_in_subprocess, m, t, args): (m, t) for m, t in work}
    for done, future in enumerate(concurrent.futures.as_completed(futures), 1):
      point = future.result()
      points.append(point)
      print(f"[{done}/{len(work)}] {MODELS[point['model']]}, "
            f"{point['total_frames']} frames: "
            f"{training_bytes(point) / 2 ** 30:.2f} GiB "
            f"(compiled in {point['compile_s']:.0f} s)", flush=True)
  points.sort(key=lambda p: (list(MODELS).index(p["model"]), p["total_frames"]))
  print(write_outputs(points, pathlib.Path(args.output_dir), args.budget_gib))
  print(f"Wrote {os.path.join(args.output_dir, 'memory.{json,md,png}')}")


if __name__ == "__main__":
  main()
