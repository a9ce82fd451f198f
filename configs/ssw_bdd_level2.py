r"""SSW-GAN BDD100K 3-stage 128, stage 2: 6/32 -> 12/64 windows of the 50/64 video.

SSW-GAN gives no widths for this stage: stage 3's networks without their 128 px parts are
used (G ch 96, [8, 4, 4, 2]; D ch 64, [2, 4, 8, 8, 16]).
"""
from hvg_jax import config_lib


def get_config(arg=None):
  c = config_lib.upsampling_base(input_frames=25, input_resolution=32, input_subsample=8)
  c.name = "ssw_bdd_level2"
  c.level = 2
  c.data.update(name="bdd100k", num_classes=0, frames=50, resolution=64, subsample=4)
  c.model.window = 6
  c.model.g.update(ch=96, mults=(8, 4, 4, 2))
  c.model.d.update(ch=64, mults=(2, 4, 8, 8, 16))
  c.train.num_steps = 35_000
  return config_lib.finalize(c, arg)
