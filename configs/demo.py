r"""The built-in demo: a tiny class-conditional level 1 on procedural videos.

8/16x16 videos of four kinds of bouncing shapes (the label) over textured backgrounds,
frame stride 2; trains on a laptop CPU in minutes and leaves samples in the workdir.

  python -m hvg_jax.main --config=configs/demo.py --workdir=/tmp/hvg_demo
"""
from hvg_jax import config_lib


def get_config(arg=None):
  c = config_lib.base_config()
  c.name = "demo"
  c.level = 1
  c.data.update(name="demo", num_classes=4, frames=8, resolution=16, subsample=2,
                num_videos=4096, num_threads=2, prefetch=2)
  c.model.g.update(ch=8, mults=(4, 2, 1), z_dim=32, embed_dim=16, scan_unroll=8)
  c.model.d.update(ch=8, mults=(1, 2, 4))
  c.train.update(batch_size=16, num_steps=800, log_every=50, checkpoint_every=200,
                 keep_checkpoints=2, sample_every=200, num_samples=16)
  return config_lib.finalize(c, arg)
