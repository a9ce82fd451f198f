"""Evaluation settings: what an evaluation computes and on how many videos, checked.

Layering, one way: config_lib is the lowest layer and never imports hvg_jax.eval (nor
data). A metric declares its own settings (its checks, whether it can rank generators, the
frames and videos it takes) by subclassing ``MetricSettings``; its module in
hvg_jax/eval/metrics/ adds the computation and registers it. Every function here that
needs to know the metrics takes that registry (name -> MetricSettings) as data, the
``registry`` argument: hvg_jax.eval.evaluation and the commands pass
hvg_jax.eval.metrics.METRICS. ``validate`` of a whole config checks the metrics registered
(validation.REGISTERED, the same dict, filled when hvg_jax.eval.metrics is imported);
before any is, only the fields every evaluation has.

The fields themselves and their defaults are ``config.eval`` (config_lib/defaults.py), so
every one is overridable on the command line; a plug-in metric with fields of its own
declares their defaults (``MetricSettings.defaults``).
"""

from collections.abc import Mapping

import ml_collections

from hvg_jax.config_lib import chains, defaults, validation
from hvg_jax.config_lib.validation import parse_metrics  # pylint: disable=unused-import (public)
from hvg_jax.config_lib.validation import validate_eval as validate

# Settings of published protocols (--protocol): the google-research FVD reference, and the
# HVG/CVG papers' 12- and 48-frame scores (clip count not stated there: the reference's).
PROTOCOLS = {
    "fvd_reference": dict(num_clips=2048, clip_frames=16),
    "hvg_12": dict(num_clips=2048, clip_frames=12),
    "hvg_48": dict(num_clips=2048, clip_frames=48),
}

# name -> "min" or "max" of each registered metric that ranks generators; filled by
# hvg_jax.eval.metrics.register, for callers that hold only a metric's name (eval.best).
BEST_MODES: dict[str, str] = {}


class MetricSettings:
  """A metric's settings declaration: what config_lib needs to know of it.

  Attributes:
    name: its name in config.eval.metrics.
    needs_i3d: its generated and real clips go through I3D (one pass shared by all such
      metrics: config.eval.clip_frames frames of config.eval.num_clips clips).
    compares_with_real: it compares generated clips with real ones (FVD) rather than
      scoring generated clips alone (IS): ``hvg_jax.fvd`` then needs ``--real``.
    best_mode: "min" or "max" when it can rank generators (config.eval.best_metric).
    fields: the config.eval fields of its own.
    defaults: defaults of its fields that config.eval lacks.
  """
  name: str = ""
  needs_i3d: bool = False
  compares_with_real: bool = False
  best_mode: str | None = None
  fields: tuple[str, ...] = ()
  defaults: dict = {}

  def check(self, e, level: int):
    """Raises ConfigError naming its config.eval field that cannot work (``e``: a
    config.eval or settings; ``level``: the top level's)."""

  def canonical(self, values: dict) -> dict:
    """Updates that put its fields of the settings ``values`` in one form."""
    del values
    return {}

  def frames(self, s) -> int:
    """Frames of the top level's generated videos it reads (0: any length)."""
    del s
    return 0

  def videos(self, s) -> int:
    """Generated videos it takes."""
    del s
    return 0

  def real_frames(self, s) -> int:
    """Frames of the real clips it reads (0: none)."""
    del s
    return 0

  def data_frames(self, s) -> int:
    """Frames the prepared real clips must have for it (0: none, or it fits itself to
    what there is)."""
    return self.real_frames(s)


Registry = Mapping[str, MetricSettings]


def selected(s, registry: Registry) -> list[MetricSettings]:
  """The settings' metrics, in the registry's order (the order of their values)."""
  return [m for name, m in registry.items() if name in s.metrics]


def settings(eval_config: ml_collections.ConfigDict | None, registry: Registry,
             **overrides) -> ml_collections.FrozenConfigDict:
  """What to compute and on how many videos: the defaults' ``config.eval``, a config's
  ``eval`` section on top, then ``overrides`` (None values ignored). Frozen: one evaluation
  cannot change another's. ``metrics`` becomes a tuple of names, checked."""
  values = defaults.base_config().eval.to_dict()
  for m in registry.values():
    values.update({k: v for k, v in m.defaults.items() if k not in values})
  unknown = sorted(set(overrides) - set(values))
  if unknown:
    raise validation.ConfigError(f"unknown evaluation settings {unknown}; known: "
                                 f"{sorted(values)}")
  if eval_config is not None:
    values.update(eval_config.to_dict() if hasattr(eval_config, "to_dict") else eval_config)
  values.update({k: v for k, v in overrides.items() if v is not None})
  values["metrics"] = tuple(parse_metrics(values["metrics"], registry))
  for m in registry.values():
    values.update(m.canonical(values))
  return ml_collections.FrozenConfigDict(values)


def chain_settings(chain: ml_collections.ConfigDict, registry: Registry):
  """A chain's final evaluation: chain.eval over the top level's config.eval, checked;
  None when chain.eval.metrics is empty."""
  if not chain.eval.metrics:
    return None
  top = chains.chain_levels(chain)[-1]
  s = settings(top.eval, registry, **{k: v for k, v in chain.eval.items() if v is not None})
  validate(s, top.level, registry)
  return s


def uses_i3d(s, registry: Registry) -> bool:
  return any(m.needs_i3d for m in selected(s, registry))


def data_frames(s, registry: Registry) -> int:
  """Frames of the real clips an evaluation must be able to read (0: none)."""
  return max((m.data_frames(s) for m in selected(s, registry)), default=0)


def real_clip_frames(s, registry: Registry) -> list[int]:
  """Frames of the real clips the metrics take, each length once."""
  return list(dict.fromkeys(f for m in selected(s, registry) if (f := m.real_frames(s))))


def frames_needed(s, registry: Registry) -> int:
  """Frames of the top level's generated videos the metrics read (at least 1)."""
  return max([1] + [m.frames(s) for m in selected(s, registry)])


def num_videos(s, registry: Registry) -> int:
  """Videos the settings' metrics take."""
  return max((m.videos(s) for m in selected(s, registry)), default=0)
