r"""DVD-GAN baseline (one level): Kinetics-600 12/128x128 (DVD-GAN B.2; HVG Table 1)."""
import pathlib

from hvg_jax import config_lib


def get_config(arg=None):
  c = config_lib.load_config(pathlib.Path(__file__).with_name("dvdgan_kinetics_12x64.py"))
  c.name = "dvdgan_kinetics_12x128"
  c.data.resolution = 128
  c.model.g.update(ch=96, mults=(8, 8, 8, 4, 2, 1))
  c.model.d.update(ch=96, mults=(1, 2, 4, 8, 16, 16))
  return config_lib.finalize(c, arg)
