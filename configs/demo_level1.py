r"""The built-in demo's level 1: a tiny class-conditional level 1 on procedural videos.

8/16x16 videos of four kinds of bouncing shapes (the label) over textured backgrounds,
frame stride 2. configs/demo.py chains it with configs/demo_level2.py; alone:

  python -m hvg_jax.main --config=configs/demo_level1.py --workdir=/tmp/demo_level1
"""
from hvg_jax import config_lib


def get_config(arg=None):
  c = config_lib.base_config()
  c.name = "demo_level1"
  c.level = 1
  c.data.update(name="demo", num_classes=4, frames=8, resolution=16, subsample=2,
                raw_resolution=32,  # the chain's top: both levels view the same frames
                num_videos=4096, num_threads=2, prefetch=2)
  c.model.g.update(ch=8, mults=(4, 2, 1), z_dim=32, embed_dim=16, scan_unroll=8)
  c.model.d.update(ch=16, mults=(1, 2, 4))
  # Ten times the papers' learning rates and an EMA of G: at the papers' rates nothing
  # but coloured noise appears in the 600 steps a CPU affords (RESULTS.md, "The demo").
  c.train.update(batch_size=16, num_steps=600, g_lr=1e-3, d_lr=2e-3, ema_decay=0.99,
                 log_every=50, checkpoint_every=200, keep_checkpoints=2, sample_every=200,
                 num_samples=16)
  c.sample.update(standing_passes=30, standing_batch=16)
  return config_lib.finalize(c, arg)
