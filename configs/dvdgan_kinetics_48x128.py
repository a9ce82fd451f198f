r"""DVD-GAN baseline (one level): Kinetics-600 48/128x128 (DVD-GAN Table 1; HVG Table 1)."""
import pathlib

from hvg_jax import config_lib


def get_config(arg=None):
  c = config_lib.load_config(pathlib.Path(__file__).with_name("dvdgan_kinetics_12x128.py"))
  c.name = "dvdgan_kinetics_48x128"
  c.data.frames = 48
  return config_lib.finalize(c, arg)
