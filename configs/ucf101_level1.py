r"""UCF101 2-level CVG, level 1: 8/64x64, 101 classes, subsampling 2 (CVG 5.3).

CVG gives no widths for UCF101: DVD-GAN's 64x64 networks are used (G ch 128,
[8, 8, 8, 4, 2]; D ch 128, [2, 4, 8, 16, 16]) with HVG's order.
"""
from hvg_jax import config_lib


def get_config(arg=None):
  c = config_lib.base_config()
  c.name = "ucf101_level1"
  c.level = 1
  c.data.update(name="ucf101", num_classes=101, frames=8, resolution=64, subsample=2)
  c.model.g.update(ch=128, mults=(8, 8, 8, 4, 2))
  c.model.d.update(ch=128, mults=(2, 4, 8, 16, 16))
  c.train.num_steps = 100_000
  return config_lib.finalize(c, arg)
