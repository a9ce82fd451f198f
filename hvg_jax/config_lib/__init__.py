"""Configs: one module per job, all names here.

  defaults     every config's defaults, ``runlocal``, loading config files, saved configs
  validation   ConfigError and the checks of every field
  shapes       what a level trains on and produces (LevelShapes)
  chains       chain configs: the levels trained one after another
"""

from hvg_jax.config_lib.validation import (BEST_MODES, DTYPES, EVAL_METRICS, I3D_METRICS,
                                           I3D_MIN_FRAMES, ConfigError, check_chain,
                                           eval_metrics, validate, validate_eval)
from hvg_jax.config_lib.shapes import LevelShapes, level_shapes
from hvg_jax.config_lib.defaults import (apply_runlocal, base_config, finalize, from_saved,
                                         load_config, parse_arg, upsampling_base)
from hvg_jax.config_lib.chains import chain_config, chain_levels, check_levels, is_chain

ConfigError.__module__ = __name__  # its public name, as error messages show it
