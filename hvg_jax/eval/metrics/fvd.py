"""FVD: the Fréchet distance between Gaussians of I3D's logits, generated and real."""

from hvg_jax.eval import frechet
from hvg_jax.eval.metrics.registry import register
from hvg_jax.eval.metrics.i3d import I3DMetric


@register
class FVD(I3DMetric):
  name = "fvd"
  best_mode = "min"

  def result(self, state, ctx):
    return {"fvd": score(ctx.i3d, ctx.real_i3d)}


def score(generated: dict, real: dict) -> float:
  return frechet.distance(frechet.fit(generated["logits"]), frechet.fit(real["logits"]))
