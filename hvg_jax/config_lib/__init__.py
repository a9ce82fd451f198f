"""Configs: one module per job, all names here.

  defaults     every config's defaults, ``runlocal``, loading config files, saved configs
  validation   ConfigError and the checks of every field
  shapes       what a level trains on and produces (LevelShapes)
  chains       chain configs: the levels trained one after another
  evaluation   evaluation settings (protocols, a chain's, their checks) over a metric registry
"""

from hvg_jax.config_lib.validation import (DTYPES, ConfigError, check_chain, level_shapes,
                                           validate)
from hvg_jax.config_lib.shapes import LevelShapes
from hvg_jax.config_lib.defaults import (apply_runlocal, base_config, finalize, from_saved,
                                         load_config, parse_arg, upsampling_base)
from hvg_jax.config_lib.chains import chain_config, chain_levels, check_levels, is_chain
from hvg_jax.config_lib import evaluation
from hvg_jax.config_lib.evaluation import BEST_MODES

ConfigError.__module__ = __name__  # its public name, as error messages show it
