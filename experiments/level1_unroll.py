r"""Level 1 unrolled beyond its training length: does its motion die out, and why?

  python experiments/level1_unroll.py --chain=workdirs/demo/level1 --output=results/level1_unroll

Samples a trained level 1 at ``--factor`` times its training length and measures, per
frame: motion (mean absolute difference of consecutive frames, 0-255), the frames' spread
over videos, and high-frequency power (PSD); for real clips as long (the level's data), for
the level with standing statistics for that length (the papers' sampling) and with each
batch's own per-frame statistics (is it the statistics?), and the relative change of every
ConvGRU's hidden state from one frame to the next (is it the recurrence settling?).
Writes <output>/results.json, per_frame.png and frames.png (two videos, sampled and real).
"""

import json
import pathlib

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
from absl import app, flags
from PIL import Image

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,wrong-import-position

from hvg_jax import runtime, video_io  # noqa: E402
from hvg_jax.chain import generate as gen  # noqa: E402
from hvg_jax.chain import levels as chain_levels  # noqa: E402
from hvg_jax.cli import quiet_orbax_logging  # noqa: E402
from hvg_jax.eval import psd, real_data  # noqa: E402

_CHAIN = flags.DEFINE_string("chain", None, "A trained level 1 (its workdir, or a chain's).")
_OUTPUT = flags.DEFINE_string("output", None, "Where results and pictures go.")
_FACTOR = flags.DEFINE_integer("factor", 4, "Unroll this many times the training length.")
_VIDEOS = flags.DEFINE_integer("videos", 64, "Videos (generated and real).")
_PASSES = flags.DEFINE_integer("passes", 30, "Dummy passes for the standing statistics.")


def motion(videos_uint8) -> np.ndarray:
  """(T,) mean absolute difference to the previous frame (frame 1: 0), 0-255."""
  v = videos_uint8.astype(np.float32)
  return np.concatenate([[0.0], np.abs(np.diff(v, axis=1)).mean(axis=(0, 2, 3, 4))])


def spread(videos_uint8) -> np.ndarray:
  """(T,) standard deviation over videos of each pixel, averaged (0-255): do they differ?"""
  return videos_uint8.astype(np.float32).std(axis=0).mean(axis=(1, 2, 3))



def measures(videos_uint8) -> dict:
  return {"motion": motion(videos_uint8).tolist(), "spread": spread(videos_uint8).tolist(),
          "hf_power": psd.high_frequency_power(videos_uint8).tolist()}


def main(argv):
  del argv
  quiet_orbax_logging()
  mesh = runtime.make_mesh()
  level = chain_levels.load(_CHAIN.value, runtime.replicated(mesh))[0]
  trained = level.shapes.video_frames
  frames = _FACTOR.value * trained
  n = _VIDEOS.value
  classes = level.shapes.num_classes
  labels = jnp.arange(n) % classes if classes else None
  key = jax.random.key(1)
  z_dim = level.config.model.g.z_dim

  # Standing statistics for the long video: the mean of the passes' per-frame statistics.
  one_pass = jax.jit(lambda z, y: gen.batch_statistics(level, level.params, frames, z, None,
                                                       y))
  passes = []
  for p in range(_PASSES.value):
    z = jax.random.normal(jax.random.fold_in(key, 1000 + p), (n, z_dim))
    passes.append(one_pass(z, labels))
  stats = jax.tree.map(lambda *s: jnp.mean(jnp.stack(s), 0).astype(s[0].dtype), *passes)
  z = jax.random.normal(key, (n, z_dim))
  standing = video_io.to_uint8(np.asarray(jax.jit(
      lambda s: gen.generate(level, level.params, s, z, None, labels))(stats)))

  # The same noise with each frame normalised by this batch's own statistics.
  def with_batch_stats(z, y):
    g = gen.standing_stats_view(
        gen.nnx.merge(level.graphdef, level.params, gen.fresh_stats(level.stats, frames)))
    return g(z, y, num_frames=frames)
  batch = video_io.to_uint8(np.asarray(jax.jit(with_batch_stats)(z, labels)))

  # The ConvGRUs' hidden states frame by frame (standing statistics), and how much each
  # frame changes them.
  step = jax.jit(lambda s, state: gen.continue_level1(level, level.params, s, z, labels,
                                                      state))
  state = gen.level1_start(level, z, labels)
  change = []
  for t in range(frames):
    _, new = step(gen.slice_stats(stats, t, 1), state)
    change.append([float(jnp.linalg.norm(b - a) / (jnp.linalg.norm(b) + 1e-12))
                   for a, b in zip(state, new)])
    state = new
  change = np.asarray(change).T  # (units, frames)

  real = np.concatenate([v for v, _ in real_data.clips(level.config, split="train", num=n,
                                                       frames=frames, seed=0, batch=16)])
  results = {"trained_frames": trained, "frames": frames, "videos": n,
             "standing": measures(standing), "batch_statistics": measures(batch),
             "real": measures(real), "state_change": change.tolist()}

  def quarter_means(values):
    v = np.asarray(values[1:])
    return [float(q.mean()) for q in np.array_split(v, 4)]

  for name in ("standing", "batch_statistics", "real"):
    results[name]["motion_by_quarter"] = quarter_means(results[name]["motion"])
    results[name]["hf_power_by_quarter"] = quarter_means(results[name]["hf_power"])
  results["state_change_by_quarter"] = [quarter_means(u) for u in change.tolist()]

  output = pathlib.Path(_OUTPUT.value)
  output.mkdir(parents=True, exist_ok=True)
  (output / "results.json").write_text(json.dumps(results, indent=1))
  x = np.arange(1, frames + 1)
  fig, axes = plt.subplots(1, 4, figsize=(17, 3.5))
  for name, style in (("real", "k-"), ("standing", "C0-"), ("batch_statistics", "C1--")):
    for ax, key_ in zip(axes[:3], ("motion", "spread", "hf_power")):
      ax.plot(x[1:] if key_ == "motion" else x, results[name][key_][1:] if key_ == "motion"
              else results[name][key_], style, label=name)
  for u, c in enumerate(change):
    axes[3].plot(x, c, label=f"unit {u + 1}")
  for ax, title in zip(axes, ("motion (mean |x_t - x_t-1|, 0-255)", "spread over videos",
                              "high-frequency power", "ConvGRU state change |dh|/|h|")):
    ax.axvline(trained + 0.5, color="gray", ls=":")
    ax.set(title=title, xlabel="frame")
    ax.legend(fontsize=7)
  axes[2].set_yscale("log")
  axes[3].set_yscale("log")
  fig.tight_layout()
  fig.savefig(output / "per_frame.png", dpi=90)
  plt.close(fig)
  rows = [np.concatenate([np.pad(f, ((1, 1), (1, 1), (0, 0)), constant_values=255)
                          for f in v], 1) for v in (standing[0], standing[1], real[0], real[1])]
  img = np.concatenate(rows, 0)
  Image.fromarray(img).resize((img.shape[1] * 3, img.shape[0] * 3), Image.NEAREST).save(
      output / "frames.png")
  for name in ("real", "standing", "batch_statistics"):
    print(f"{name}: motion by quarter {np.round(results[name]['motion_by_quarter'], 2)}, "
          f"HF power by quarter {np.round(results[name]['hf_power_by_quarter'], 1)}")
  print("ConvGRU state change by quarter:", np.round(results["state_change_by_quarter"], 4))


if __name__ == "__main__":
  flags.mark_flags_as_required(["chain", "output"])
  app.run(main)
