r"""SSW-GAN BDD100K 3-stage 128, stage 3: 6/64 -> 12/128 windows; 100/128 unrolled (B.2)."""
from hvg_jax import config_lib


def get_config(arg=None):
  c = config_lib.upsampling_base(input_frames=50, input_resolution=64, input_subsample=4)
  c.name = "ssw_bdd_level3"
  c.level = 3
  c.data.update(name="bdd100k", num_classes=0, frames=100, resolution=128, subsample=2)
  c.model.window = 6
  c.model.g.update(ch=96, mults=(8, 4, 4, 2, 2))
  c.model.d.update(ch=64, mults=(1, 2, 4, 8, 8, 16))
  c.train.num_steps = 35_000
  return config_lib.finalize(c, arg)
