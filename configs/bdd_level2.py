r"""BDD100K 3-level HVG 256, level 2: 6/64 -> 12/128 windows of the 24/128 video (HVG B.2)."""
from hvg_jax import config_lib


def get_config(arg=None):
  c = config_lib.upsampling_base(input_frames=12, input_resolution=64, input_subsample=8)
  c.name = "bdd_level2"
  c.level = 2
  c.data.update(name="bdd100k", num_classes=0, frames=24, resolution=128, subsample=4)
  c.model.window = 6
  c.model.g.update(ch=96, mults=(8, 8, 4, 2, 1))
  c.model.d.update(ch=96, mults=(1, 2, 4, 8, 16, 16))
  c.train.num_steps = 100_000
  return config_lib.finalize(c, arg)
