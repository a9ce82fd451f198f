r"""Ablation (HVG 5.4, Table 3): Kinetics level 2 on 3-frame windows, 3/32 -> 6/128.

Shorter windows cost less but give the upsampler less context. D_S judges all 6 frames
(k is capped at the window's length).
"""
import pathlib

from hvg_jax import config_lib


def get_config(arg=None):
  c = config_lib.load_config(pathlib.Path(__file__).with_name("kinetics_level2.py"))
  c.name = "kinetics_level2_window3"
  c.model.window = 3
  return config_lib.finalize(c, arg)
