"""IS: the Inception Score of I3D's class posteriors of the generated clips (``is`` and
``is_std`` over config.eval.is_splits parts)."""

from hvg_jax.config_lib import validation
from hvg_jax.eval import inception_score
from hvg_jax.eval.metrics.registry import register
from hvg_jax.eval.metrics.i3d import I3DMetric, log_unconditional


@register
class InceptionScore(I3DMetric):
  name = "is"
  best_mode = "max"
  fields = ("is_splits",)
  compares_with_real = False  # of the generated clips alone

  def check(self, e, level):
    super().check(e, level)
    validation.check(1 <= e.is_splits <= e.num_clips, f"config.eval.is_splits: between 1 "
                     f"and num_clips={e.num_clips}, got {e.is_splits}")

  def for_chain(self, levels):
    log_unconditional("IS", levels)
    return True

  def result(self, state, ctx):
    mean, std = score(ctx.i3d, ctx.settings.is_splits)
    return {"is": mean, "is_std": std}


def score(generated: dict, splits: int) -> tuple[float, float]:
  return inception_score.inception_score(inception_score.softmax(generated["logits"]),
                                         splits)
