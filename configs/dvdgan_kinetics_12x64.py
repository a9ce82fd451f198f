r"""DVD-GAN baseline (one level): Kinetics-600 12/64x64, class-conditional (DVD-GAN B.2-B.3).

120-d noise and class embedding, the first unit keeps the resolution, EMA of G with decay
0.9999 from step 20k, frame stride 2.
"""
from hvg_jax import config_lib


def get_config(arg=None):
  c = config_lib.base_config()
  c.name = "dvdgan_kinetics_12x64"
  c.level = 1
  c.data.update(name="kinetics600", num_classes=600, frames=12, resolution=64, subsample=2)
  c.model.g.update(ch=128, mults=(8, 8, 8, 4, 2), z_dim=120, embed_dim=120, keep_unit="first")
  c.model.d.update(ch=128, mults=(2, 4, 8, 16, 16))
  c.train.update(num_steps=300_000, ema_decay=0.9999, ema_start=20_000)
  return config_lib.finalize(c, arg)
