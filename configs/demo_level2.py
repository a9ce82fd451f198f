r"""The built-in demo's level 2: 4/16 -> 8/32 windows of the 16/32x32 video.

Upsamples demo_level1's 8/16x16 videos 2x in time and space, trained on windows of 4 of
their 8 frames (HVG's partial views); configs/demo.py trains both.
"""
from hvg_jax import config_lib


def get_config(arg=None):
  c = config_lib.upsampling_base(input_frames=8, input_resolution=16, input_subsample=2)
  c.name = "demo_level2"
  c.level = 2
  c.data.update(name="demo", num_classes=4, frames=16, resolution=32, subsample=1,
                raw_resolution=32,  # the chain's top: both levels view the same frames
                num_videos=4096, num_threads=2, prefetch=2)
  c.model.window = 4
  c.model.g.update(ch=8, mults=(4, 2, 1), z_dim=32, embed_dim=16)
  c.model.d.update(ch=8, mults=(1, 2, 4, 4))
  # Half level 1's batch: a level-2 step costs about twice as much. Ten times the papers'
  # learning rates and an EMA of G, as level 1: at the papers' rates an upsampler does not
  # learn to follow its input in the steps a CPU affords (RESULTS.md).
  c.train.update(batch_size=8, num_steps=400, g_lr=1e-3, d_lr=2e-3, ema_decay=0.99,
                 log_every=50, checkpoint_every=200, keep_checkpoints=2, sample_every=200,
                 num_samples=16)
  # Videos longer than 128 frames: level 2's passes on 128 frames, stretched (its statistics
  # are the same from frame 128 on; quality as the papers' passes: RESULTS.md).
  c.sample.update(standing_passes=30, standing_batch=16, standing_window=128)
  return config_lib.finalize(c, arg)
