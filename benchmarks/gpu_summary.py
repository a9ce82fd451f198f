r"""The figures of benchmarks/gpu.sh in one JSON, with the GPU issue's targets and anchors.

  python benchmarks/gpu_summary.py --out=$OUT

Reads the JSON files gpu.sh wrote to --out and writes --out/summary.json: per measurement
the iteration time, samples/s per device, MFU and allocator peak; Kinetics level 2's ratios
against SSW-GAN Table 3 (1.25 samples/s per V100, 7.3 GB a sample) and against
torch.compile of the same iteration in the same run; memory per sample beyond the first;
level 2's memory over the video's length (HVG Figure 5: flat). A missing file is listed,
not guessed.
"""

import argparse
import json
import pathlib

SSW_SAMPLES_PER_S = 4 / 3.2  # SSW-GAN Table 3: 12/128 upsampler, 4 samples per V100, 3.2 s
SSW_GB_PER_SAMPLE = 29.1 / 4
TARGETS = {"mfu": 0.40, "samples_per_s_per_device": 25.0, "over_torch_compile": 1.5,
           "gb_per_extra_sample": 1.8}


def _load(path: pathlib.Path):
  try:
    return json.loads(path.read_text())
  except (OSError, ValueError):
    return None


def summarise(out: pathlib.Path) -> dict:
  summary, missing = {"targets": TARGETS}, []
  for path in sorted(out.glob("*.json")):
    data = _load(path)
    if path.name == "summary.json" or not data or "training" not in data:
      continue
    t = data["training"]
    summary[path.stem] = {k: t.get(k) for k in (
        "config", "level", "dtype", "device", "devices", "batch_per_device", "iteration_s",
        "samples_per_s_per_device", "mfu", "achieved_tflops_per_device",
        "allocator_peak_bytes", "compile_s")}
  l2, l2_1 = summary.get("kinetics_level2_bf16"), summary.get("kinetics_level2_bf16_b1")
  if l2 and l2.get("samples_per_s_per_device"):
    summary["kinetics_level2_over_ssw_gan"] = l2["samples_per_s_per_device"] / SSW_SAMPLES_PER_S
  else:
    missing.append("kinetics_level2_bf16")
  if l2 and l2_1 and l2.get("allocator_peak_bytes") and l2_1.get("allocator_peak_bytes"):
    extra = (l2["allocator_peak_bytes"] - l2_1["allocator_peak_bytes"]) / (
        l2["batch_per_device"] - l2_1["batch_per_device"])
    summary["gb_per_extra_sample"] = extra / 1e9
    summary["gb_per_extra_sample_over_ssw_gan"] = extra / 1e9 / SSW_GB_PER_SAMPLE
  else:
    missing.append("allocator peaks at batch 4 and 1 (a CPU reports none)")
  torch = _load(out / "torch_level2.json")
  if torch and "ratios" in torch:
    summary["torch"] = {"ratios": torch["ratios"],
                        **{k: torch[k].get("iteration_s") for k in ("jax", "torch_eager",
                                                                    "torch_compile")
                           if isinstance(torch.get(k), dict)}}
    compiled = torch["ratios"].get("torch_compile_over_jax")
    if compiled:
      summary["jax_speedup_over_torch_compile"] = compiled
  else:
    missing.append("torch_level2")
  memory = _load(out / "memory" / "memory.json")
  if memory:
    level2 = {p["total_frames"]: p for p in memory if p.get("model") == "level2"}
    summary["level2_memory_over_length"] = {
        frames: {"xla_bytes": p["memory_bytes_per_program"][-1]["total"],
                 "allocator_peak_bytes": p.get("allocator_peak_bytes")}
        for frames, p in sorted(level2.items())}
  else:
    missing.append("memory")
  summary["missing"] = missing
  return summary


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--out", required=True, help="gpu.sh's output directory")
  out = pathlib.Path(parser.parse_args().out)
  summary = summarise(out)
  (out / "summary.json").write_text(json.dumps(summary, indent=2))
  print(json.dumps(summary, indent=2))


if __name__ == "__main__":
  main()
