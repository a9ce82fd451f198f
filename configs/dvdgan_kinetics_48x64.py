r"""DVD-GAN baseline (one level): Kinetics-600 48/64x64 (DVD-GAN Table 1)."""
import pathlib

from hvg_jax import config_lib


def get_config(arg=None):
  c = config_lib.load_config(pathlib.Path(__file__).with_name("dvdgan_kinetics_12x64.py"))
  c.name = "dvdgan_kinetics_48x64"
  c.data.frames = 48
  return config_lib.finalize(c, arg)
