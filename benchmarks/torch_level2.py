r"""hvg_jax's training iteration against the PyTorch reference, in one process, one device.

  python benchmarks/torch_level2.py --config=configs/kinetics_chain.py --level=2 \
      --batch_per_device=8 --dtype=bfloat16 --steps=10 --warmup=3 \
      --output=/tmp/torch_vs_jax_kinetics_l2.json
  python benchmarks/torch_level2.py --config=configs/demo.py:runlocal --device=cpu \
      --steps=5 --warmup=2

Times one training iteration of a level (``d_steps`` D updates and one G update, the
frozen lower levels generating their windows included) three ways on synthetic data and
random weights: (a) hvg_jax's jitted step (hvg_jax.programs.compile_training);
(b) benchmarks/torch_reference.py eagerly; (c) the same under torch.compile. Reports the
median iteration time after ``--warmup`` iterations, the first iteration (for
torch.compile: its compile time), peak allocator memory on GPUs, and the ratios torch /
JAX from this one run (above 1: JAX is faster). Prints a table, writes JSON (--output).

Fairness settings, recorded in the JSON: float32 convolutions and matmuls may use TF32 in
both (XLA's default on NVIDIA GPUs; torch's set_float32_matmul_precision('high')),
cudnn.benchmark on, fused Adam on CUDA; bfloat16 is hvg_jax's ``model.dtype`` and
torch.autocast for the reference. The torch runs go first and release their cached
memory, and JAX does not preallocate, so the two share one GPU. One device: the batch is
``--batch_per_device`` (default: the config's batch).
"""

import argparse
import copy
import json
import os
import pathlib
import statistics
import sys
import time
import traceback

# JAX would otherwise take 75% of the GPU before torch runs.
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

import jax  # noqa: E402
import torch  # noqa: E402

from hvg_jax import programs  # noqa: E402
from hvg_jax import config_lib  # noqa: E402
from hvg_jax import runtime  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import torch_reference as tr  # noqa: E402

IMPLEMENTATIONS = ("jax", "torch_eager", "torch_compile")


def parse_args(argv=None):
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--config", default="configs/kinetics_chain.py",
                 help="A chain config file, optionally with its argument (path:runlocal).")
  p.add_argument("--level", type=int, default=2, help="Which level's iteration to time.")
  p.add_argument("--batch_per_device", type=int, default=None,
                 help="Videos per D/G step (default: the config's batch).")
  p.add_argument("--dtype", choices=config_lib.DTYPES, default=None,
                 help="Compute dtype (default: the config's model.dtype).")
  p.add_argument("--steps", type=int, default=5, help="Timed iterations.")
  p.add_argument("--warmup", type=int, default=2, help="Iterations before timing.")
  p.add_argument("--device", choices=("cuda", "cpu"),
                 default="cuda" if torch.cuda.is_available() else "cpu",
                 help="torch's device (JAX uses its default backend).")
  p.add_argument("--memory_format", choices=("channels_first", "channels_last"),
                 default="channels_first",
                 help="Storage of the torch reference's videos and conv weights: "
                 "channels_last is hvg_jax's (B, T, H, W, C) storage, NHWC convolutions.")
  p.add_argument("--torch_threads", type=int, default=None,
                 help="torch's CPU threads (default: torch's, one per core). On a busy "
                 "CPU, 1 avoids OpenMP threads waiting on each other at every op.")
  p.add_argument("--only", default=",".join(IMPLEMENTATIONS),
                 help=f"Comma-separated subset of {','.join(IMPLEMENTATIONS)}.")
  p.add_argument("--output", default=None, help="Write the figures as JSON here.")
  args = p.parse_args(argv)
  args.only = [s.strip() for s in args.only.split(",") if s.strip()]
  unknown = set(args.only) - set(IMPLEMENTATIONS)
  if unknown or not args.only:
    p.error(f"--only: a subset of {','.join(IMPLEMENTATIONS)}, got {args.only}")
  if args.steps < 1 or args.warmup < 0:
    p.error("--steps must be >= 1 and --warmup >= 0")
  if args.device == "cuda" and not torch.cuda.is_available():
    p.error("--device=cuda: torch sees no CUDA device (this torch build: "
            f"{torch.__version__}); use --device=cpu")
  return args


def load_configs(spec: str, level: int, batch, dtype):
  """The level's config and those below it, with batch and dtype overridden."""
  path, _, arg = spec.partition(":")
  chain = config_lib.load_config(path, arg or None)
  if not config_lib.is_chain(chain):
    raise config_lib.ConfigError(f"{spec}: a chain config (e.g. configs/kinetics_chain.py) "
                                 "names the levels below the one timed")
  configs = config_lib.chain_levels(chain)
  if not 1 <= level <= len(configs):
    raise config_lib.ConfigError(f"--level={level}: the chain has levels 1..{len(configs)}")
  out = []
  for c in configs[:level]:
    c = copy.deepcopy(c)
    if batch is not None:
      c.train.batch_size = batch
    if dtype is not None:
      c.model.dtype = dtype
    config_lib.validate(c)
    out.append(c)
  return out[-1], out[:-1]


def _sync(device):
  if device.type == "cuda":
    torch.cuda.synchronize(device)


def time_jax(config, lower_configs, steps, warmup):
  """hvg_jax's compiled step on one device: figures as hvg_jax.benchmark's."""
  mesh = runtime.make_mesh(jax.devices()[:1])
  compiled, (state, batch, lower), figures = programs.compile_training(
      config, lower_configs, mesh, abstract=False)
  times = []
  for i in range(warmup + steps):
    start = time.perf_counter()
    state, metrics = compiled(state, batch, lower)  # state is donated: rebind it
    jax.block_until_ready((state, metrics))
    times.append(time.perf_counter() - start)
  out = {"compile_s": figures["compile_s"], "first_iteration_s": times[0],
         "iteration_s": statistics.median(times[warmup:]), "iteration_s_all": times[warmup:],
         "flops_per_iteration": figures["flops_per_iteration_per_device"],
         "xla_memory_bytes": figures["memory_bytes"],
         "d_loss": float(metrics["d_loss"]), "g_loss": float(metrics["g_loss"])}
  stats = getattr(jax.devices()[0], "memory_stats", lambda: None)()
  if stats and "peak_bytes_in_use" in stats:
    out["peak_memory_bytes"] = int(stats["peak_bytes_in_use"])
  return out


def _channels_last(trainer, batch):
  for m in list(trainer.generator.modules()) + list(trainer.discriminators.modules()) + [
      m for lv in (trainer.lower.levels if trainer.lower else []) for m in
      lv.generator.modules()]:
    if isinstance(m, tr.SNConv2d):
      m.weight.data = m.weight.data.contiguous(memory_format=torch.channels_last)
    elif isinstance(m, tr.SNConv3d):
      m.weight.data = m.weight.data.contiguous(memory_format=torch.channels_last_3d)
  # (d, B, T, C, H, W) stored as (d, B, T, H, W, C).
  video = batch["video"].permute(0, 1, 2, 4, 5, 3).contiguous().permute(0, 1, 2, 5, 3, 4)
  return {**batch, "video": video}


def time_torch(config, lower_configs, device, dtype, compile_, memory_format, steps, warmup):
  torch.manual_seed(0)
  trainer = tr.Trainer(config, lower_configs, device=device, dtype=dtype, compile=compile_)
  batch = tr.synthetic_batch(config, device)
  if memory_format == "channels_last":
    batch = _channels_last(trainer, batch)
  if device.type == "cuda":
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats(device)
  times = []
  for _ in range(warmup + steps):
    start = time.perf_counter()
    metrics = trainer.step(batch)
    _sync(device)
    times.append(time.perf_counter() - start)
  out = {"first_iteration_s": times[0], "iteration_s": statistics.median(times[warmup:]),
         "iteration_s_all": times[warmup:], "d_loss": float(metrics["d_loss"]),
         "g_loss": float(metrics["g_loss"]), "finite": bool(metrics["finite"])}
  if device.type == "cuda":
    out["peak_memory_bytes"] = int(torch.cuda.max_memory_allocated(device))
  del trainer, batch, metrics
  if device.type == "cuda":
    torch.cuda.empty_cache()
  return out


def _fmt_bytes(n):
  return "n/a" if n is None else f"{n / 2 ** 30:.2f} GiB"


def format_table(result) -> str:
  header = ("implementation", "iteration (median)", "samples/s", "first iteration",
            "peak memory", "/ JAX")
  rows = []
  labels = {"jax": "hvg_jax (jit)", "torch_eager": "torch eager",
            "torch_compile": "torch.compile"}
  jax_s = result.get("jax", {}).get("iteration_s")
  for name in IMPLEMENTATIONS:
    r = result.get(name)
    if r is None:
      continue
    if "error" in r:
      rows.append((labels[name], "failed: " + r["error"].splitlines()[-1][:60], "", "", "",
                   ""))
      continue
    first = f"{r['first_iteration_s']:.2f} s"
    if name == "jax":
      first += f" (+ compile {r['compile_s']:.1f} s)"
    rows.append((labels[name], f"{r['iteration_s'] * 1e3:.1f} ms",
                 f"{result['batch'] / r['iteration_s']:.3g}", first,
                 _fmt_bytes(r.get("peak_memory_bytes")),
                 f"{r['iteration_s'] / jax_s:.2f}x" if jax_s else "n/a"))
  widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
  lines = [f"{result['config']} level {result['level']}, {result['dtype']}, batch "
           f"{result['batch']} x {result['d_steps']} D steps; JAX on {result['jax_device']}, "
           f"torch on {result['torch_device']} ({result['memory_format']})"]
  for row in [header] + rows:
    lines.append("  ".join(str(x).ljust(w) for x, w in zip(row, widths)))
  return "\n".join(lines)


def main(argv=None):
  args = parse_args(argv)
  try:
    config, lower_configs = load_configs(args.config, args.level, args.batch_per_device,
                                         args.dtype)
  except config_lib.ConfigError as e:
    sys.exit(f"error: {e}")
  device = torch.device(args.device)
  if args.torch_threads:
    torch.set_num_threads(args.torch_threads)
  if device.type == "cuda":
    torch.set_float32_matmul_precision("high")  # TF32, as XLA's default on NVIDIA GPUs
    torch.backends.cudnn.allow_tf32 = True
    torch.backends.cudnn.benchmark = True
  jax_device = jax.devices()[0]
  result = {"config": config.name, "level": config.level, "dtype": config.model.dtype,
            "batch": config.train.batch_size, "d_steps": config.train.d_steps,
            "steps": args.steps, "warmup": args.warmup,
            "jax_device": jax_device.device_kind,
            "torch_device": (torch.cuda.get_device_name(device) if device.type == "cuda"
                             else "cpu"),
            "memory_format": args.memory_format,
            "versions": {"jax": jax.__version__, "torch": torch.__version__},
            "settings": {"tf32": device.type == "cuda", "cudnn_benchmark": device.type == "cuda",
                         "fused_adam": device.type == "cuda",
                         "torch_threads": torch.get_num_threads()}}
  if device.type == "cuda" and jax_device.platform != "gpu":
    print(f"warning: torch runs on {result['torch_device']}, JAX on {jax_device.platform}: "
          "the ratios compare different devices", file=sys.stderr)
  failed = []
  # torch first: its cached memory is given back before JAX (which keeps what it takes).
  for name, compile_ in (("torch_eager", False), ("torch_compile", True)):
    if name not in args.only:
      continue
    try:
      result[name] = time_torch(config, lower_configs, device, config.model.dtype, compile_,
                                args.memory_format, args.steps, args.warmup)
    except Exception:  # pylint: disable=broad-except
      failed.append(name)
      result[name] = {"error": traceback.format_exc()}
      print(f"{name} failed:\n{result[name]['error']}", file=sys.stderr)
  if "jax" in args.only:
    result["jax"] = time_jax(config, lower_configs, args.steps, args.warmup)
    result["ratios"] = {f"{name}_over_jax": result[name]["iteration_s"] /
                        result["jax"]["iteration_s"]
                        for name in ("torch_eager", "torch_compile")
                        if "iteration_s" in result.get(name, {})}
  print(format_table(result))
  if args.output:
    with open(args.output, "w") as f:
      json.dump(result, f, indent=2)
    print(f"wrote {args.output}")
  if failed:
    sys.exit(f"error: {', '.join(failed)} failed (traceback above and in the JSON)")


if __name__ == "__main__":
  main()
