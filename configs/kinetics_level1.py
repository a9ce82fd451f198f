r"""Kinetics-600 2-level HVG/CVG, level 1: 24/32x32, class-conditional (HVG 5.2, B.1).

Temporal subsampling 4, so level 2 (stride 2) matches DVD-GAN's Kinetics stride as in CVG;
HVG's text uses 8 for this level and 4 for level 2 (override both data.subsample and
level 2's model.input.subsample to reproduce it).

  python -m hvg_jax.main --config=configs/kinetics_level1.py --workdir=...
"""
from hvg_jax import config_lib


def get_config(arg=None):
  c = config_lib.base_config()
  c.name = "kinetics_level1"
  c.level = 1
  c.data.update(name="kinetics600", num_classes=600, frames=24, resolution=32, subsample=4)
  c.model.g.update(ch=128, mults=(8, 8, 4, 2))
  c.model.d.update(ch=128, mults=(2, 4, 8, 16, 16))
  c.train.num_steps = 300_000
  return config_lib.finalize(c, arg)
