r"""BDD100K 3-level HVG 256, level 1: 12/64x64, unconditional, subsampling 8 (HVG 5.3).

The papers give no widths for this 64 px level: DVD-GAN's 64x64 networks are used (G ch 128,
[8, 8, 8, 4, 2]; D ch 128, [2, 4, 8, 16, 16]) with HVG's order (the last unit keeps the
resolution).
"""
from hvg_jax import config_lib


def get_config(arg=None):
  c = config_lib.base_config()
  c.name = "bdd_level1"
  c.level = 1
  c.data.update(name="bdd100k", num_classes=0, frames=12, resolution=64, subsample=8)
  c.model.g.update(ch=128, mults=(8, 8, 8, 4, 2))
  c.model.d.update(ch=128, mults=(2, 4, 8, 16, 16))
  c.train.num_steps = 100_000
  return config_lib.finalize(c, arg)
