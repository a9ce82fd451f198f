"""Evaluation metrics as plug-ins: one module per metric, and the registry.

A metric is a ``Metric`` (base.py): its settings declaration (config_lib.evaluation
.MetricSettings: checks, best mode, the frames and videos it takes) and its computation
(real-data statistics, per-batch accumulation over the generated videos, a reduction to
named floats). ``register`` adds one to ``METRICS``, which the evaluator and the settings'
checks iterate; nothing else names a metric. Adding a metric is adding a module that
registers it (and importing it).
"""

# pylint: disable=unused-import (the package's public names)
from hvg_jax.eval.metrics.base import Batch, Context, Metric
from hvg_jax.eval.metrics.registry import METRICS, register, unregister

# The built-in metrics, registered in the order their values are reported.
from hvg_jax.eval.metrics import fvd, fid, inception, psd, grounding, colour
