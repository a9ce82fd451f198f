r"""SSW-GAN BDD100K 3-stage 128, stage 1: 25/32x32, unconditional, subsampling 8 (B.1)."""
from hvg_jax import config_lib


def get_config(arg=None):
  c = config_lib.base_config()
  c.name = "ssw_bdd_level1"
  c.level = 1
  c.data.update(name="bdd100k", num_classes=0, frames=25, resolution=32, subsample=8)
  c.model.g.update(ch=128, mults=(8, 8, 4, 2))
  c.model.d.update(ch=128, mults=(2, 4, 8, 16, 16))
  c.train.num_steps = 35_000
  return config_lib.finalize(c, arg)
