"""FID: the Fréchet distance between Gaussians of I3D's pooled features (video FID)."""

from hvg_jax.eval import frechet
from hvg_jax.eval.metrics.registry import register
from hvg_jax.eval.metrics.i3d import I3DMetric


@register
class FID(I3DMetric):
  name = "fid"
  best_mode = "min"

  def result(self, state, ctx):
    return {"fid": score(ctx.i3d, ctx.real_i3d)}


def score(generated: dict, real: dict) -> float:
  return frechet.distance(frechet.fit(generated["features"]),
                          frechet.fit(real["features"]))
