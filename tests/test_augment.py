"""What small data sets train with: DiffAugment of what D sees (config.train.d_augment)
and mirrored training clips (config.data.flip)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import CONFIG_DIR
from hvg_jax import config_lib
from hvg_jax.data import pipeline
from hvg_jax.train import augment


def _video(b=4, t=3, size=16, seed=0):
  return jnp.asarray(np.random.default_rng(seed).uniform(-1, 1, (b, t, size, size, 3)),
                     jnp.float32)


def test_translation_moves_every_frame_of_a_video_alike_filling_with_zeros():
  still = jnp.repeat(_video(t=1), 3, axis=1)  # three equal frames
  moved = augment.augment(still, jax.random.key(0), ("translation",))
  np.testing.assert_array_equal(moved[:, 0], moved[:, 1])
  np.testing.assert_array_equal(moved[:, 0], moved[:, 2])
  for v, m in zip(np.asarray(still[:, 0]), np.asarray(moved[:, 0])):
    found = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
             if np.array_equal(m, np.pad(v, ((2, 2), (2, 2), (0, 0)))[2 - dy:18 - dy,
                                                                     2 - dx:18 - dx])]
    assert len(found) == 1  # a shift of at most 16 / 8 pixels, zeros filling in


def test_cutout_greys_one_square_of_half_the_size_in_every_frame():
  video = _video() + 3.0  # no zero anywhere before
  cut = np.asarray(augment.augment(video, jax.random.key(1), ("cutout",)))
  zeros = cut == 0
  assert (zeros == zeros[:, :1]).all()  # the same square in every frame
  per_frame = zeros[:, 0, :, :, 0]
  assert (per_frame.sum(axis=(1, 2)) == 64).all()  # 8 x 8 of 16 x 16
  rows, cols = per_frame.any(axis=2), per_frame.any(axis=1)
  assert (rows.sum(axis=1) == 8).all() and (cols.sum(axis=1) == 8).all()


def test_the_policy_is_differentiable_and_d_m_sees_the_video_as_it_is():
  video = _video()
  grad = jax.grad(lambda x: augment.augment(
      x, jax.random.key(2), ("color", "translation", "cutout")).sum())(video)
  assert jnp.isfinite(grad).all() and jnp.abs(grad).sum() > 0
  seen = {}

  def d(v, labels, *, key, video_low=None, matching_video=None):
    seen.update(video=v, key=key, matching=matching_video)
    return {}

  key = jax.random.key(3)
  augment.scores(d, video, None, key=key, video_low=None, policy=())
  assert seen["video"] is video and seen["key"] is key and seen["matching"] is None
  augment.scores(d, video, None, key=key, video_low=None, policy=("translation",))
  assert seen["matching"] is video and not np.array_equal(seen["video"], video)


def test_an_unknown_augmentation_is_a_config_error():
  c = config_lib.load_config(CONFIG_DIR / "demo_level1.py", "runlocal")
  c.train.d_augment = "color,flip"
  with pytest.raises(config_lib.ConfigError, match="config.train.d_augment: flip is not one "
                     "of color, translation, cutout"):
    config_lib.validate(c)


def test_flipped_clips_are_mirrored_half_of_the_time():
  video = np.random.default_rng(0).integers(0, 256, (12, 16, 16, 3), dtype=np.uint8)
  example = {"video": video, "label": 0}
  plain = pipeline.ClipSpec(frames=4, stride=2, resolution=16)
  flip = pipeline.ClipSpec(frames=4, stride=2, resolution=16, flip=True)
  mirrored = 0
  for seed in range(200):
    a = pipeline.take_clip(example, np.random.default_rng(seed), plain)["video"]
    b = pipeline.take_clip(example, np.random.default_rng(seed), flip)["video"]
    assert np.array_equal(a, b) or np.array_equal(a[:, :, ::-1], b)
    mirrored += not np.array_equal(a, b)
  assert 70 < mirrored < 130, mirrored
