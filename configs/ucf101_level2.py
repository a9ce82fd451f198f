r"""UCF101 2-level CVG, level 2: 8/64 -> 16/128x128, no windows, subsampling 1 (CVG 5.3).

CVG gives no widths: the Kinetics 128 px upsampler's are used (G ch 128, [8, 8, 4, 2, 1];
D ch 96, [1, 2, 4, 8, 16, 16]).
"""
from hvg_jax import config_lib


def get_config(arg=None):
  c = config_lib.upsampling_base(input_frames=8, input_resolution=64, input_subsample=2)
  c.name = "ucf101_level2"
  c.level = 2
  c.data.update(name="ucf101", num_classes=101, frames=16, resolution=128, subsample=1)
  c.model.window = None  # small videos: trained on the whole input
  c.model.g.update(ch=128, mults=(8, 8, 4, 2, 1))
  c.model.d.update(ch=96, mults=(1, 2, 4, 8, 16, 16))
  c.train.num_steps = 100_000
  return config_lib.finalize(c, arg)
