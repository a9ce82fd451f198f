r"""Evaluates a trained chain (its workdirs or an export) against its data set.

  python -m hvg_jax.evaluate --chain=workdirs/demo --metrics=psd,grounding \
      --output=workdirs/demo/eval
  python -m hvg_jax.evaluate --chain=runs/bdd_export --i3d_weights=i3d_kinetics400.npz \
      --protocol=hvg_48 --output=runs/bdd_eval48

FVD, FID and IS need the Kinetics-400 I3D's weights converted once by
hvg_jax.convert_i3d; PSD and grounding need none. Settings default to the top level's
config.eval (2048 clips of 16 frames, the FVD reference); --protocol picks a published
setting and flags override single fields. Real-data statistics are computed once and
cached (--cache_dir). Writes metrics.json, psd.png, psd.npz and TensorBoard scalars into
--output.
"""

import sys

import jax
from absl import app, flags, logging
from clu import metric_writers

from hvg_jax import cli, config_lib
from hvg_jax.chain import levels as chain_levels
from hvg_jax.eval import evaluation, i3d_weights
from hvg_jax.train import state as state_lib
from hvg_jax.train.checkpoints import quiet_orbax_logging

_CHAIN = flags.DEFINE_string("chain", None, "Comma-separated level workdirs (level 1 first), "
                             "a chain workdir, or an export.")
_OUTPUT = flags.DEFINE_string("output", None, "Where metrics.json, plots and TensorBoard "
                              "events go.")
_METRICS = flags.DEFINE_string("metrics", None, "Comma-separated subset of "
                               f"{','.join(config_lib.EVAL_METRICS)} (default: config.eval).")
_PROTOCOL = flags.DEFINE_enum("protocol", None, list(evaluation.PROTOCOLS),
                              "Clip count and length of a published protocol.")
_WEIGHTS = flags.DEFINE_string("i3d_weights", None, "I3D weights file (hvg_jax.convert_i3d).")
_NUM_CLIPS = flags.DEFINE_integer("num_clips", None, "Generated and real clips for FVD/FID/IS.")
_CLIP_FRAMES = flags.DEFINE_integer("clip_frames", None, "Frames per clip for FVD/FID/IS.")
_SPLIT = flags.DEFINE_string("split", None, "The real clips' split.")
_BATCH = flags.DEFINE_integer("batch", None, "Videos generated at a time.")
_PSD_VIDEOS = flags.DEFINE_integer("psd_videos", None, "Videos for the PSD (in psd_sets sets).")
_PSD_FRAMES = flags.DEFINE_list("psd_frames", None, "1-based frames of the PSD.")
_PSD_SETS = flags.DEFINE_integer("psd_sets", None, "Sets the PSD videos are split into "
                                 "(mean and spread over them).")
_SIGMA = flags.DEFINE_float("sigma", None, "Noise scale of the generated videos.")
_SEED = flags.DEFINE_integer("seed", None, "Which videos and real clips.")
_PASSES = flags.DEFINE_integer("standing_passes", None, "Dummy passes for standing "
                               "statistics at the evaluated length.")
_PER_CLASS = flags.DEFINE_bool("per_class", None, "Also FVD and FID per class.")
_CACHE = flags.DEFINE_string("cache_dir", None, "Where real-data statistics are cached.")


def settings_for(levels) -> evaluation.Settings:
  overrides = dict(evaluation.PROTOCOLS.get(_PROTOCOL.value, {}))
  overrides.update(
      metrics=_METRICS.value, i3d_weights=_WEIGHTS.value, num_clips=_NUM_CLIPS.value,
      clip_frames=_CLIP_FRAMES.value, split=_SPLIT.value, batch=_BATCH.value,
      psd_videos=_PSD_VIDEOS.value, sigma=_SIGMA.value, seed=_SEED.value,
      standing_passes=_PASSES.value, per_class=_PER_CLASS.value, cache_dir=_CACHE.value,
      psd_frames=_PSD_FRAMES.value, psd_sets=_PSD_SETS.value)
  return evaluation.Settings.from_config(levels[-1].config.get("eval"),
                                         **{k: v for k, v in overrides.items()
                                            if v is not None})


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  quiet_orbax_logging()
  try:
    mesh = state_lib.make_mesh()
    levels = chain_levels.load(_CHAIN.value, state_lib.replicated(mesh))
    for lv in levels:
      logging.info("Level %d: %s", lv.config.level, lv.source)
    settings = settings_for(levels)
    settings.check(levels)
    evaluator = evaluation.Evaluator(settings, mesh=mesh)
    results = evaluator(levels)
  except (config_lib.ConfigError, i3d_weights.WeightsError,
          i3d_weights.MissingWeightsError) as e:
    sys.exit(f"error: {e}")
  if jax.process_index() == 0:
    writer = metric_writers.create_default_writer(_OUTPUT.value)
    path = evaluation.write(_OUTPUT.value, results, settings=settings, levels=levels,
                            writer=writer)
    writer.close()
    for name, value in results.metrics.items():
      logging.info("%s: %.6g", name, value)
    logging.info("Wrote %s", path)


if __name__ == "__main__":
  flags.mark_flags_as_required(["chain", "output"])
  app.run(main, flags_parser=cli.parse_flags)
