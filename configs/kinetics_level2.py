r"""Kinetics-600 2-level HVG/CVG, level 2: 6/32 -> 12/128 windows; 48/128 unrolled.

Upsamples level 1's 24/32x32 videos 2x in time and 4x in space (HVG 5.2, B.2).
"""
from hvg_jax import config_lib


def get_config(arg=None):
  c = config_lib.upsampling_base(input_frames=24, input_resolution=32, input_subsample=4)
  c.name = "kinetics_level2"
  c.level = 2
  c.data.update(name="kinetics600", num_classes=600, frames=48, resolution=128, subsample=2)
  c.model.window = 6
  c.model.g.update(ch=128, mults=(8, 8, 4, 2, 1))
  c.model.d.update(ch=96, mults=(1, 2, 4, 8, 16, 16))
  c.train.num_steps = 300_000
  return config_lib.finalize(c, arg)
