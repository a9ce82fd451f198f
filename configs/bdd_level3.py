r"""BDD100K 3-level HVG 256, level 3: 6/128 -> 12/256 windows; 48/256 unrolled (HVG B.2)."""
from hvg_jax import config_lib


def get_config(arg=None):
  c = config_lib.upsampling_base(input_frames=24, input_resolution=128, input_subsample=4)
  c.name = "bdd_level3"
  c.level = 3
  c.data.update(name="bdd100k", num_classes=0, frames=48, resolution=256, subsample=2)
  c.model.window = 6
  c.model.g.update(ch=96, mults=(8, 4, 4, 4, 2, 1))
  c.model.d.update(ch=96, mults=(1, 2, 4, 8, 8, 16, 16))
  c.train.num_steps = 100_000
  return config_lib.finalize(c, arg)
