r"""The hierarchy's results on a trained chain: grounding, FVD against an untrained chain,
HVG Table 2's matching ablation in miniature, and the upsampler over 4x its training length.

  python -m hvg_jax.main --config=configs/demo.py --workdir=workdirs/demo
  python experiments/hierarchy.py --chain=workdirs/demo --output=results/demo
  python experiments/hierarchy.py --chain=workdirs/demo --output=results/demo \
      --variant=no_md:model.matching=False --variant=real_inputs:train.real_inputs=1.0

For the chain, then for every --variant (the top level retrained on the same frozen levels
below with the given config fields, same steps and seed, in <chain>/variants/<name>), it
measures:
- grounding: MSE(f_s(f_t(x^l)), x^{l-1}) of the top level on the chain's generated inputs,
  against the shuffled pairs' (each output against another video's input), and the same on
  real inputs (the real lower views f_s(f_t(x)) of data clips: a perfect level below);
- FVD and FID of the top level (the real Kinetics-400 I3D; the chain command's settings);
- for the chain, the same FVD of an untrained chain (random generators of the same configs),
  and of two disjoint draws of real clips (the floor at this clip count);
- for the chain, grounding and high-frequency power (PSD) per frame position over 4x the
  top level's training length, generated and real (does detail or grounding fade?).
Writes <output>/results.json, PNG strips of the samples (a row per level, a column per
frame) and plots, and prints a Markdown table.
"""

import ast
import copy
import json
import pathlib
import sys

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
from absl import app, flags, logging
from flax import nnx
from PIL import Image

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,wrong-import-position

from hvg_jax import config_lib, models, runtime, video_io, video_ops  # noqa: E402
from hvg_jax import level as level_lib  # noqa: E402
from hvg_jax.chain import generate as gen  # noqa: E402
from hvg_jax.chain import levels as chain_levels  # noqa: E402
from hvg_jax.chain.sampler import ChainSampler, level_lengths, sample_chain  # noqa: E402
from hvg_jax.cli import quiet_orbax_logging  # noqa: E402
from hvg_jax.eval import evaluation, grounding, psd, real_data  # noqa: E402
from hvg_jax.train import trainer  # noqa: E402

_CHAIN = flags.DEFINE_string("chain", None, "The trained chain (its workdir).")
_CHAIN_CONFIG = flags.DEFINE_string("chain_config", "configs/demo.py", "Its chain config "
                                    "(for the chain command's evaluation settings).")
_OUTPUT = flags.DEFINE_string("output", None, "Where results, variants and pictures go.")
_VARIANTS = flags.DEFINE_multi_string("variant", [], "name:field=value[,field=value]: the "
                                      "top level retrained with these config fields.")
_VIDEOS = flags.DEFINE_integer("videos", 64, "Videos for grounding and the long videos.")
_LENGTH = flags.DEFINE_integer("length_factor", 4, "The long videos: this many times the top "
                               "level's training length.")
_NUM_CLIPS = flags.DEFINE_integer("num_clips", None, "FVD/FID clips, over the chain "
                                  "command's (more clips: less of FVD's small-sample bias).")
_SKIP_UNTRAINED = flags.DEFINE_bool("skip_untrained", False, "No untrained-chain FVD.")
_SKIP_LONG = flags.DEFINE_bool("skip_long", False, "No long videos.")


def eval_settings(chain_config, top, **more):
  """The chain command's evaluation settings (chain.eval over the top's config.eval), with
  ``more`` on top."""
  overrides = {k: v for k, v in chain_config.eval.items() if v is not None}
  return evaluation.settings(top.config.eval, **dict(overrides, **more))


def real_input_grounding(level, num: int, seed: int = 0, batch: int = 16) -> dict:
  """Grounding of upsampler ``level`` on real inputs: the real lower views of ``num`` data
  clips of its whole video, against the shuffled pairs'."""
  shapes = level.shapes
  sums, count = {}, 0
  run = jax.jit(lambda params, stats, z, low, labels: gen.generate(
      level, params, stats, z, low, labels))
  key = jax.random.key(seed)
  for i, (clips, labels) in enumerate(real_data.clips(
      level.config, split="train", num=num, frames=shapes.video_frames, seed=seed,
      batch=batch)):
    high = jnp.asarray(clips, jnp.float32) / 127.5 - 1.0
    low = video_ops.downsample_video(high, shapes.time_factor, shapes.input_resolution)
    z = jax.random.normal(jax.random.fold_in(key, i), (len(clips), level.config.model.g.z_dim))
    out = run(level.params, level.stats, z, low,
              jnp.asarray(labels) if shapes.num_classes else None)
    g = grounding.grounding(np.asarray(out), np.asarray(low), shapes.time_factor)
    for k, v in g.items():
      sums[k] = sums.get(k, 0.0) + v * len(clips)
    count += len(clips)
  out = {k: v / count for k, v in sums.items()}
  out["ratio"] = out["mse"] / out["mse_shuffled"]
  return out


def real_floor(settings, top_config, mesh) -> dict:
  """FVD and FID between two disjoint draws of real clips (seeds ``settings.seed`` and the
  next): what a perfect generator would score at this clip count."""
  from hvg_jax.eval import frechet  # pylint: disable=g-import-not-at-top
  evaluator = evaluation.Evaluator(settings, mesh=mesh)
  draws = [real_data.embeddings(
      top_config, evaluator.embedder, split=settings.split, num=settings.num_clips,
      frames=settings.clip_frames, seed=seed, batch=settings.batch,
      weights_id=evaluator.weights_id, directory=real_data.cache_dir(settings.cache_dir))
      for seed in (settings.seed, settings.seed + 1)]
  return {k: frechet.distance(frechet.fit(draws[0][name]), frechet.fit(draws[1][name]))
          for k, name in (("fvd", "logits"), ("fid", "features"))}


def untrained_levels(levels) -> list:
  """Random generators of the same configs, with standing statistics (the FVD baseline)."""
  out = []
  for i, lv in enumerate(levels):
    graphdef, state = nnx.split(models.build_generator(lv.config, rngs=nnx.Rngs(100 + i)))
    out.append(level_lib.frozen_level(lv.config, graphdef, state, f"untrained {lv.config.name}"))
  stats = ChainSampler(out, progress=False).standing_statistics(
      level_lengths(out), passes=out[-1].config.sample.standing_passes,
      batch=out[-1].config.sample.standing_batch, key=jax.random.key(0),
      recompute=range(len(out)))
  for level, s in zip(out, stats):
    level.stats = s
  return out


def train_variant(top_dir: pathlib.Path, lower_dirs, name: str, fields: str):
  """The top level retrained with ``fields`` (field=value,...) on the same levels below."""
  config = copy.deepcopy(level_lib.load_workdir(top_dir).config)
  values = {}
  for item in filter(None, fields.split(",")):
    field, _, value = item.partition("=")
    try:
      values[field] = ast.literal_eval(value)
    except (ValueError, SyntaxError):
      values[field] = value  # a string
  config.update_from_flattened_dict(values)
  config.lower_levels = ",".join(str(d) for d in lower_dirs)
  workdir = top_dir.parent / "variants" / name
  if not level_lib.is_finished(workdir, config.train.num_steps):
    logging.info("Training variant %s (%s) in %s", name, fields, workdir)
    trainer.train(config, workdir)
  return workdir


def strip(videos: list[np.ndarray], path, rows: int = 4, scale: int = 3):
  """PNG: for each of ``rows`` videos, a row per level (frame-repeated to the top's rate and
  size), a column per frame."""
  frames = [video_io.to_uint8(v) for v in videos]
  t, r = frames[-1].shape[1:3]
  lines = []
  for i in range(rows):
    for v in frames:
      x = v[i].repeat(t // v.shape[1], 0).repeat(r // v.shape[2], 1).repeat(r // v.shape[3], 2)
      lines.append(np.concatenate([np.pad(f, ((1, 1), (1, 1), (0, 0)), constant_values=255)
                                   for f in x], 1))
    lines.append(np.full((4, lines[-1].shape[1], 3), 255, np.uint8))
  img = np.concatenate(lines, 0)
  Image.fromarray(img).resize((img.shape[1] * scale, img.shape[0] * scale),
                              Image.NEAREST).save(path)



def long_videos(levels, factor: int, num: int, output) -> dict:
  """Grounding and high-frequency power per frame position over ``factor`` times the top
  level's training length (generated), and the power of real clips as long."""
  top = levels[-1]
  frames = top.shapes.video_frames * factor
  videos = sample_chain(levels, frames=frames, num_videos=num, seed=1, progress=False)
  high, low = np.asarray(videos[-1]), np.asarray(videos[-2])
  down = np.asarray(video_ops.downsample_video(high, top.shapes.time_factor, low.shape[2]))
  ground = ((down - low) ** 2).mean(axis=(0, 2, 3, 4))  # per input frame position
  shuffled = ((down - np.roll(low, 1, axis=0)) ** 2).mean(axis=(0, 2, 3, 4))
  real = np.concatenate([v for v, _ in real_data.clips(
      top.config, split="train", num=num, frames=frames, seed=0, batch=16)])
  power = {"generated": psd.high_frequency_power(video_io.to_uint8(high)),
           "real": psd.high_frequency_power(real)}
  strip(videos, pathlib.Path(output) / f"long_{factor}x.png", rows=2, scale=2)
  fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.5))
  a.plot(np.arange(1, len(ground) + 1), ground, label="MSE(f_s(f_t(x^l)), x^{l-1})")
  a.plot(np.arange(1, len(ground) + 1), shuffled, label="shuffled pairs")
  a.axvline(levels[-2].shapes.video_frames + 0.5, color="gray", ls=":", label="trained length")
  a.set(xlabel="frame of x^{l-1}", ylabel="MSE", title="grounding per frame")
  a.legend(fontsize=8)
  b.plot(np.arange(1, frames + 1), power["generated"], label="generated")
  b.plot(np.arange(1, frames + 1), power["real"], label="real")
  b.axvline(top.shapes.video_frames + 0.5, color="gray", ls=":", label="trained length")
  b.set(xlabel="frame of x^l", ylabel="power", yscale="log",
        title="high-frequency power per frame")
  b.legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(pathlib.Path(output) / f"long_{factor}x_per_frame.png", dpi=100)
  plt.close(fig)
  trained = levels[-2].shapes.video_frames
  return {
      "frames": frames,
      "grounding_per_frame": ground.tolist(), "shuffled_per_frame": shuffled.tolist(),
      "grounding_ratio_trained_span": float(ground[:trained].mean() / shuffled[:trained].mean()),
      "grounding_ratio_beyond": float(ground[trained:].mean() / shuffled[trained:].mean()),
      "hf_power_generated": power["generated"].tolist(), "hf_power_real": power["real"].tolist(),
      "hf_power_ratio_last_to_first_quarter": float(
          power["generated"][-frames // 4:].mean() / power["generated"][:frames // 4].mean()),
  }


def main(argv):
  del argv
  quiet_orbax_logging()
  output = pathlib.Path(_OUTPUT.value)
  output.mkdir(parents=True, exist_ok=True)
  chain_config = config_lib.load_config(_CHAIN_CONFIG.value)
  mesh = runtime.make_mesh()
  dirs = sorted(pathlib.Path(_CHAIN.value).glob("level[0-9]*"), key=lambda p: int(p.name[5:]))
  levels = chain_levels.load([str(d) for d in dirs], runtime.replicated(mesh))
  chain_settings = eval_settings(chain_config, levels[-1])
  metrics = [m for m in ("fvd", "fid", "grounding")
             if m in chain_settings.metrics or m == "grounding"]
  settings = eval_settings(chain_config, levels[-1], num_clips=_NUM_CLIPS.value or None,
                           metrics=",".join(metrics))
  results = {"settings": settings.to_dict(), "models": {}}
  previous = output / "results.json"
  if previous.exists():  # a rerun (e.g. --skip_untrained) keeps what it does not redo
    kept = json.loads(previous.read_text())
    if kept.get("settings") == json.loads(json.dumps(results["settings"], default=str)):
      results = kept

  def score(name, model_levels, real_inputs=True):
    metrics = evaluation.Evaluator(settings, mesh=mesh)(model_levels).metrics
    entry = {k: metrics[k] for k in ("fvd", "fid") if k in metrics}
    k = len(model_levels)
    entry["grounding_ratio"] = metrics.get(f"grounding/level{k}_ratio")
    entry["grounding_mse"] = metrics.get(f"grounding/level{k}_mse")
    if real_inputs:
      entry["real_inputs"] = real_input_grounding(model_levels[-1], _VIDEOS.value)
    results["models"][name] = entry
    logging.info("%s: %s", name, json.dumps(entry))
    zs = gen.noise(jax.random.key(1), model_levels, 4)
    stats = [lv.stats for lv in model_levels]
    labels = (np.arange(4) % model_levels[0].shapes.num_classes).astype(np.int32) \
        if model_levels[0].shapes.num_classes else None
    strip(ChainSampler(model_levels, progress=False).videos(stats, zs, labels),
          output / f"{name}.png")

  results["real_vs_real"] = real_floor(settings, levels[-1].config, mesh)
  logging.info("real vs real: %s", json.dumps(results["real_vs_real"]))
  score("chain", levels)
  if not _SKIP_UNTRAINED.value:
    score("untrained", untrained_levels(levels), real_inputs=False)
  if "untrained" in results["models"]:
    results["fvd_untrained_over_trained"] = (results["models"]["untrained"]["fvd"]
                                             / results["models"]["chain"]["fvd"])
  for variant in _VARIANTS.value:
    name, _, fields = variant.partition(":")
    workdir = train_variant(dirs[-1], dirs[:-1], name, fields)
    variant_levels = chain_levels.load([str(d) for d in dirs[:-1]] + [str(workdir)],
                                       runtime.replicated(mesh))
    score(name, variant_levels)
  if not _SKIP_LONG.value:
    results["long"] = long_videos(levels, _LENGTH.value, _VIDEOS.value, output)
  (output / "results.json").write_text(json.dumps(results, indent=2, default=str))
  rows = ["| model | grounding ratio (generated inputs) | grounding ratio (real inputs) "
          "| FVD | FID |", "|---|---|---|---|---|"]
  for name, e in results["models"].items():
    real = e.get("real_inputs", {}).get("ratio")
    rows.append(f"| {name} | {e['grounding_ratio']:.3f} | "
                f"{'' if real is None else f'{real:.3f}'} | {e.get('fvd', float('nan')):.1f} | "
                f"{e.get('fid', float('nan')):.2f} |")
  floor = results["real_vs_real"]
  rows.append(f"| real vs real (the floor) | | | {floor['fvd']:.1f} | {floor['fid']:.2f} |")
  print("\n".join(rows))
  if "long" in results:
    long = results["long"]
    print(f"\n{_LENGTH.value}x length ({long['frames']} frames): grounding ratio "
          f"{long['grounding_ratio_trained_span']:.3f} within the trained span, "
          f"{long['grounding_ratio_beyond']:.3f} beyond; high-frequency power, last quarter "
          f"over first: {long['hf_power_ratio_last_to_first_quarter']:.3f}")
  return 0


if __name__ == "__main__":
  flags.mark_flags_as_required(["chain", "output"])
  sys.exit(app.run(main))
