"""The registry of evaluation metrics: name -> Metric, in the order their values are
reported (the built-in ones registered by hvg_jax.eval.metrics, a plug-in by its module)."""

from hvg_jax.config_lib import evaluation as settings_lib
from hvg_jax.config_lib import validation
from hvg_jax.eval.metrics.base import Metric

# name -> metric, in the order of their values; config_lib's own record of the registered
# metrics (the same dict), so that config validation checks every metric's settings.
METRICS: dict[str, Metric] = validation.REGISTERED


def register(metric: Metric) -> Metric:
  """Adds ``metric`` (an instance, or a Metric class to instantiate) to the registry;
  returns it, so it also decorates a class."""
  instance = metric() if isinstance(metric, type) else metric
  if not instance.name or instance.name in METRICS:
    raise ValueError(f"a metric needs a name of its own, got {instance.name!r}")
  METRICS[instance.name] = instance
  if instance.best_mode:
    settings_lib.BEST_MODES[instance.name] = instance.best_mode
  return metric


def unregister(name: str):
  """Removes a metric (tests' toy metrics)."""
  METRICS.pop(name)
  settings_lib.BEST_MODES.pop(name, None)
