r"""Where a level's compiled TPU update spends its time, by the TPU compiler's own estimate.

  python benchmarks/tpu_breakdown.py --config=configs/kinetics_chain.py --level=2 \
      --topology=v5p-8 --batch_per_device=8 --dtype=bfloat16 --output_dir=/tmp/k2_breakdown
  python benchmarks/tpu_breakdown.py --dump=/tmp/k2_breakdown/dump   # parse a dump again

Compiles the level's training iteration for the slice (hvg_jax.sizing) with XLA's dump of
the optimised program, then reads the ``estimated_cycles`` the TPU compiler writes on every
instruction it scheduled (the ``after_codegen`` HLO of the update) and adds them up: by
kind of work (convolutions, matrix products, elementwise and reduction loops, copies and
layout changes, collectives), by the JAX operation that made it, and the costliest
instructions with their shapes. Shares are of the summed cycles; the cycles are the
compiler's estimates, not measurements. Instructions inside loop bodies are counted once
(the level-2 update has no loops; a level 1's ConvGRU scan does).

``--bytes`` adds up what the ``optimal_seconds`` estimate is made of besides FLOPs: the
bytes each top-level instruction of the optimised update reads and writes in HBM (operands
and results at their tiled, padded sizes; buffers the compiler placed in on-chip memory,
``S(1)``, left out), by kind of work and by operation, and how much of it is padding (a
96-channel minor dimension stored as 128 lanes). An accounting of the program's buffers, not
the compiler's own figure: for Kinetics level 2's update at 8 per chip, the one program
compared, it came to 87% of the cost analysis's ``bytes accessed`` (256.2 of 294.6 GB).
"""

import argparse
import collections
import json
import math
import os
import pathlib
import re
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]

_CYCLES = re.compile(r'"estimated_cycles":"(\d+)"')
_NAME = re.compile(r"^\s*(?:ROOT )?%([\w.\-]+) = (\S+?\[[^\]]*\])?")
_KIND = re.compile(r"kind=(k\w+)")
_OP = re.compile(r'op_name="([^"]*)"')


def category(line: str, op: str) -> str:
  """The kind of work of one scheduled instruction."""
  if "convolution" in line.split("backend_config")[0] and "fusion(" not in line:
    return "convolution"
  if op.endswith("conv_general_dilated"):
    return "convolution (fused)"
  if op.endswith("dot_general") and "kind=kOutput" in line:
    return "matrix product"
  for word, name in (("all-reduce", "collective"), ("all-gather", "collective"),
                     ("reduce-scatter", "collective"), ("copy", "copy / layout"),
                     ("transpose", "copy / layout")):
    if f" {word}(" in line or f" {word}-start(" in line or f"{word}_fusion" in line:
      return name
  if "reduce" in op or "reduce_fusion" in line:
    return "reduction loop"
  return "elementwise loop"


def parse(hlo_text: str) -> list[dict]:
  """Every scheduled instruction with an estimate: name, shape, category, op, cycles."""
  out = []
  for line in hlo_text.splitlines():
    cycles = _CYCLES.search(line)
    if not cycles:
      continue
    name = _NAME.match(line)
    op = _OP.search(line)
    op = op.group(1) if op else ""
    out.append({"name": name.group(1) if name else "?",
                "shape": (name.group(2) or "") if name else "",
                "op": op.split("/")[-1] or "?", "op_path": op,
                "category": category(line, op), "cycles": int(cycles.group(1))})
  return out


_BYTES = {"bf16": 2, "f16": 2, "f32": 4, "s32": 4, "u32": 4, "pred": 1, "s8": 1, "u8": 1,
          "s64": 8, "u64": 8, "f64": 8}
_ARRAY = re.compile(r"(\w+)\[([\d,]*)\](\{[^}]*\})?")
_DEFINITION = re.compile(
    r"^\s*(?:ROOT )?%([\w.\-]+) = (\([^=]*?\)|\w+\[[\d,]*\](?:\{[^}]*\})?) ([\w\-]+)\((.*)")
_NO_TRAFFIC = {"parameter", "constant", "tuple", "get-tuple-element", "bitcast", "after-all",
               "partition-id", "replica-id"}


def array_bytes(dtype: str, dims: str, layout: str | None) -> tuple[int, int]:
  """(HBM bytes at the layout's tiled size, bytes of the elements alone) of one array.

  (0, 0) for an array in on-chip memory (``S(1)``) or of a type without a size.
  """
  if dtype not in _BYTES:
    return 0, 0
  shape = [int(d) for d in dims.split(",") if d]
  logical = math.prod(shape) * _BYTES[dtype]
  match = re.fullmatch(r"\{([\d,]*)(?::(.*))?\}", layout or "")
  if not match or not shape:
    return logical, logical
  annotations = match.group(2) or ""
  if "S(1)" in annotations:
    return 0, 0
  minor_to_major = [int(d) for d in match.group(1).split(",") if d]
  physical = [shape[d] for d in reversed(minor_to_major)] if minor_to_major else shape
  tiles = re.findall(r"T\(([\d,]+)\)", annotations)
  if tiles:
    tile = [int(t) for t in tiles[0].split(",")]  # the first tile pads; (2,1) after it packs
    for k in range(1, min(len(tile), len(physical)) + 1):
      physical[-k] = -(-physical[-k] // tile[-k]) * tile[-k]
  return math.prod(physical) * _BYTES[dtype], logical


def parse_bytes(hlo_text: str) -> list[dict]:
  """Every top-level instruction of the entry computation with the HBM bytes it touches."""
  lines = hlo_text.splitlines()
  start = next((i for i, line in enumerate(lines) if line.startswith("ENTRY")), None)
  if start is None:
    raise SystemExit("no ENTRY computation in the HLO")
  shapes, out = {}, []
  for line in lines[start + 1:]:
    if line.startswith("}"):
      break
    definition = _DEFINITION.match(line)
    if not definition:
      continue
    name, shape, opcode, rest = definition.groups()
    shapes[name] = shape
    if opcode in _NO_TRAFFIC:
      continue
    operands = re.findall(r"%([\w.\-]+)", rest.split(")")[0])
    arrays = [a for text in [shape] + [shapes.get(o, "") for o in operands]
              for a in _ARRAY.findall(text)]
    tiled, logical = map(sum, zip(*(array_bytes(*a) for a in arrays))) if arrays else (0, 0)
    op = _OP.search(line)
    op = op.group(1) if op else ""
    out.append({"name": name, "shape": shape if len(shape) < 60 else shape[:57] + "...",
                "op": op.split("/")[-1] or "?", "op_path": op,
                "category": category(line, op), "bytes": tiled,
                "padding": max(tiled - logical, 0)})
  return out


def update_dump(dump: pathlib.Path, stage: str = "after_codegen") -> pathlib.Path:
  """The update's HLO of one stage in a dump folder (the largest jit_step program)."""
  files = sorted(dump.glob(f"*jit_step*{stage}.txt"), key=lambda p: p.stat().st_size)
  if not files:
    raise SystemExit(f"no jit_step {stage} HLO in {dump}: was it dumped by a TPU "
                     "compile (XLA_FLAGS=--xla_dump_to=...)?")
  return files[-1]


def summarise(instructions: list[dict], top: int = 25, measure: str = "cycles") -> dict:
  """Shares of ``measure`` (estimated cycles or HBM bytes) by kind, by operation, costliest."""
  total = sum(i[measure] for i in instructions)
  if not total:
    raise SystemExit(f"no {measure} in the dump: was it a TPU compile?")
  by_category = collections.Counter()
  by_op = collections.Counter()
  for i in instructions:
    by_category[i["category"]] += i[measure]
    by_op[(i["category"], i["op"])] += i[measure]
  costliest = sorted(instructions, key=lambda i: -i[measure])[:top]
  summary = {f"total_{measure}": total, "instructions": len(instructions),
             "by_category": {k: v / total for k, v in by_category.most_common()},
             "by_op": [{"category": c, "op": o, "share": v / total}
                       for (c, o), v in by_op.most_common(top)],
             "costliest": [dict(i, share=i[measure] / total) for i in costliest]}
  if measure == "bytes":
    summary["padding_share"] = sum(i["padding"] for i in instructions) / total
  return summary


def report(summary: dict) -> str:
  if "total_bytes" in summary:
    lines = [f"{summary['instructions']} top-level instructions touch "
             f"{summary['total_bytes'] / 1e9:,.1f} GB of HBM (our accounting of the optimised "
             f"program; {100 * summary['padding_share']:.1f}% of it tile padding)"]
  else:
    lines = [f"{summary['instructions']} scheduled instructions, "
             f"{summary['total_cycles']:,} estimated cycles in all (the compiler's estimates)"]
  lines += ["", "By kind of work:"]
  lines += [f"  {100 * v:5.1f}%  {k}" for k, v in summary["by_category"].items()]
  lines += ["", "By operation:"]
  lines += [f"  {100 * r['share']:5.1f}%  {r['op']} ({r['category']})"
            for r in summary["by_op"]]
  lines += ["", "Costliest instructions:"]
  lines += [f"  {100 * i['share']:5.2f}%  {i['shape']:<40} {i['op']} ({i['category']})"
            for i in summary["costliest"]]
  return "\n".join(lines)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--dump", help="parse this dump folder (no compile)")
  parser.add_argument("--config")
  parser.add_argument("--level", type=int)
  parser.add_argument("--topology", default="v5p-8")
  parser.add_argument("--batch_per_device", type=int, default=8)
  parser.add_argument("--dtype", default="bfloat16")
  parser.add_argument("--output_dir", default="tpu_breakdown")
  parser.add_argument("--bytes", action="store_true",
                      help="also add up the HBM bytes of the optimised update, by operation")
  args, overrides = parser.parse_known_args()  # the rest (--config.x=y) go to the command
  if not args.dump and not args.config:
    parser.error("--config is required (or --dump to parse a dump again)")
  if args.dump:
    dump = pathlib.Path(args.dump)
  else:
    out = pathlib.Path(args.output_dir)
    dump = out / "dump"
    env = dict(os.environ, XLA_FLAGS=f"{os.environ.get('XLA_FLAGS', '')} "
               f"--xla_dump_to={dump} --xla_dump_hlo_as_text".strip())
    command = [sys.executable, "-m", "hvg_jax.benchmark", f"--config={args.config}",
               f"--topology={args.topology}", f"--batch_per_device={args.batch_per_device}",
               f"--dtype={args.dtype}", "--nosampling", "--nosearch",
               f"--output={out / 'sizing.json'}", *overrides]
    if args.level:
      command.append(f"--level={args.level}")
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run(command, check=True, cwd=REPO, env=env)
  hlo = update_dump(dump)
  summary = summarise(parse(hlo.read_text()))
  summary["hlo"] = str(hlo)
  print(report(summary))
  if args.bytes:
    optimised = update_dump(dump, "after_optimizations")
    summary["bytes"] = summarise(parse_bytes(optimised.read_text()), measure="bytes")
    summary["bytes"]["hlo"] = str(optimised)
    print("\n" + report(summary["bytes"]))
  if not args.dump:
    (pathlib.Path(args.output_dir) / "breakdown.json").write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
  main()
