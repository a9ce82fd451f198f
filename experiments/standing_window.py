r"""Windowed standing statistics against the papers' (whole-length dummy passes): do the
videos' quality measures differ by more than the papers' method differs from itself?

  python experiments/standing_window.py --chain=workdirs/demo --frames=64 --window=32 \
      --output=results/standing_window

For each method (the papers': --standing_window=0; windowed: --window) and each of --seeds
seeds (the seed of the dummy passes and of the videos' noise), computes the standing
statistics at --frames frames (--standing_passes passes of the config's standing_batch),
samples --videos videos of that length and measures the top level's
- grounding ratio (MSE of the downsampled output against its input over the shuffled
  pairs'; 0 follows its input, 1 ignores it), over the whole video and per quarter;
- PSD: the mean log radial power spectrum of the luminance at frame positions, as the
  RMS log-distance to the papers' method's mean over the other seeds (for the papers'
  method itself: the spread);
- FVD and FID of 16-frame clips from the middle and the end of the videos against real
  clips (I3D, --videos clips).
Writes <output>/results.json and prints a Markdown table: per method and measure the mean
over seeds and the range (min to max).
"""

import json
import pathlib
import time

import jax
import numpy as np
from absl import app, flags

from hvg_jax import cli, video_io
from hvg_jax.chain import generate as gen
from hvg_jax.chain.sampler import ChainSampler, level_lengths, random_labels
from hvg_jax.eval import evaluation, frechet, grounding, psd, real_data

_CHAIN = flags.DEFINE_string("chain", "workdirs/demo", "The chain.")
_OUTPUT = flags.DEFINE_string("output", "results/standing_window", "Where results go.")
_FRAMES = flags.DEFINE_integer("frames", 64, "Frames of the top level's videos.")
_WINDOW = flags.DEFINE_integer("window", 32, "The windowed method's --standing_window.")
_SEEDS = flags.DEFINE_integer("seeds", 3, "Seeds per method.")
_VIDEOS = flags.DEFINE_integer("videos", 48, "Videos per run (and real clips).")
_PASSES = flags.DEFINE_integer("standing_passes", None, "Default: the top config's.")
_FVD = flags.DEFINE_bool("fvd", True, "Also FVD and FID (I3D; slow on CPU).")

CLIP = 16


def _runs(levels, evaluator, real):
  top = levels[-1].config
  frames, f = _FRAMES.value, levels[-1].shapes.time_factor
  positions = sorted({1, frames // 4, frames // 2, 3 * frames // 4, frames})
  clip_starts = {"middle": frames // 2 - CLIP // 2, "end": frames - CLIP}
  sampler = ChainSampler(levels, progress=True)
  lengths = level_lengths(levels, frames)
  passes = _PASSES.value or top.sample.standing_passes
  runs = []
  for method, window in (("papers'", 0), (f"window {_WINDOW.value}", _WINDOW.value)):
    for seed in range(_SEEDS.value):
      k_stats, k_noise = jax.random.split(jax.random.key(1000 + seed))
      start = time.time()
      stats = sampler.standing_statistics(lengths, passes=passes,
                                          batch=top.sample.standing_batch, key=k_stats,
                                          window=window)
      seconds = time.time() - start
      videos = [[] for _ in levels]
      for i in range(0, _VIDEOS.value, 16):
        k_z, k_y = jax.random.split(jax.random.fold_in(k_noise, i))
        zs = gen.noise(k_z, levels, 16)
        labels = random_labels(k_y, levels[0], 16)
        for k, v in enumerate(sampler.videos(stats, zs, labels)):
          videos[k].append(v)
      videos = [np.concatenate(v)[:_VIDEOS.value] for v in videos]
      high, low = videos[-1], videos[-2]
      run = dict(method=method, seed=seed, stats_seconds=seconds)
      quarter = frames // 4
      for name, (a, b) in [("all", (0, frames))] + [
          (f"q{q + 1}", (q * quarter, (q + 1) * quarter)) for q in range(4)]:
        g = grounding.grounding(high[:, a:b], low[:, a // f:b // f], f)
        run[f"grounding {name}"] = g["mse"] / g["mse_shuffled"]
      top_uint8 = video_io.to_uint8(high)
      spectra = psd.video_spectra(top_uint8, positions)
      run["spectra"] = {k: np.log(v.mean(0)).tolist() for k, v in spectra.items()}
      if evaluator is not None:
        for name, s in clip_starts.items():
          e = evaluator.embedder(top_uint8[:, s:s + CLIP])
          run[f"FVD {name}"] = frechet.distance(frechet.fit(e["logits"]),
                                                frechet.fit(real["logits"]))
          run[f"FID {name}"] = frechet.distance(frechet.fit(e["features"]),
                                                frechet.fit(real["features"]))
      print({k: v for k, v in run.items() if k != "spectra"}, flush=True)
      runs.append(run)
  return runs


def _psd_distances(runs):
  """Each run's mean log spectrum per position against the papers' method's mean over
  the other seeds (not the run's own seed, whose videos share its noise)."""
  papers = [r for r in runs if r["method"] == "papers'"]
  for r in runs:
    others = [p for p in papers if p["seed"] != r["seed"]]
    for k in r["spectra"]:
      mean = np.mean([p["spectra"][k] for p in others], 0)
      r[f"PSD {k}"] = float(np.sqrt(np.mean((np.asarray(r["spectra"][k]) - mean) ** 2)))


def main(argv):
  cli.start(argv)
  _, levels = cli.load_chain(_CHAIN.value)
  evaluator = real = None
  if _FVD.value:
    settings = evaluation.settings(levels[-1].config.eval, num_clips=_VIDEOS.value,
                                   clip_frames=CLIP, metrics="fvd,fid", batch=16)
    evaluator = evaluation.Evaluator(settings)
    real = real_data.embeddings(
        levels[-1].config, evaluator.embedder, split="train", num=_VIDEOS.value,
        frames=CLIP, seed=0, batch=16, weights_id=evaluator.weights_id,
        directory=real_data.cache_dir(""), progress=True)
  runs = _runs(levels, evaluator, real)
  _psd_distances(runs)
  out = pathlib.Path(_OUTPUT.value)
  out.mkdir(parents=True, exist_ok=True)
  (out / "results.json").write_text(json.dumps(dict(
      chain=_CHAIN.value, frames=_FRAMES.value, window=_WINDOW.value, runs=runs), indent=1))
  measures = [k for k in runs[0] if k not in ("method", "seed", "spectra")]
  methods = list(dict.fromkeys(r["method"] for r in runs))
  print(f"\n{_FRAMES.value} frames, {_VIDEOS.value} videos, {_SEEDS.value} seeds: mean "
        "(min to max)\n")
  print("| measure | " + " | ".join(methods) + " |\n|---|" + "---|" * len(methods))
  for m in measures:
    cells = []
    for method in methods:
      v = [r[m] for r in runs if r["method"] == method]
      cells.append(f"{np.mean(v):.4g} ({min(v):.4g} to {max(v):.4g})")
    print(f"| {m} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
