r"""Ablation (HVG 5.4, Table 2 "No MD"): Kinetics level 2 without the matching discriminator.

Without D_M the upsampler learns to ignore its low-resolution input.
"""
import pathlib

from hvg_jax import config_lib


def get_config(arg=None):
  c = config_lib.load_config(pathlib.Path(__file__).with_name("kinetics_level2.py"))
  c.name = "kinetics_level2_no_md"
  c.model.matching = False
  return config_lib.finalize(c, arg)
