"""The papers' video views: f_t, f_s, frame repetition and nearest resizing."""

import jax.numpy as jnp
import numpy as np
import pytest

from conftest import CONFIG_DIR
from hvg_jax import config_lib, video_ops
from hvg_jax.data import pipeline
from hvg_jax.train import step as train_step


def test_subsample_undoes_repeat_frames(rng):
  x = rng.normal(size=(2, 5, 4, 4, 3)).astype(np.float32)
  up = np.asarray(video_ops.repeat_frames(x, 2))
  assert up.shape == (2, 10, 4, 4, 3)
  np.testing.assert_array_equal(up[:, 0], up[:, 1])  # frame i -> frames 2i, 2i + 1
  np.testing.assert_array_equal(up[:, 6], x[:, 3])
  np.testing.assert_array_equal(np.asarray(video_ops.subsample_frames(up, 2)), x)
  np.testing.assert_array_equal(np.asarray(video_ops.subsample_frames(x, 2)), x[:, [0, 2, 4]])


def test_nearest_downsampling_takes_half_pixel_centres():
  x = np.arange(8 * 8, dtype=np.float32).reshape(1, 1, 8, 8, 1)
  down = np.asarray(video_ops.downsample_nearest(x, 2))[0, 0, :, :, 0]
  # 4x4 blocks: the pixel nearest each block's centre (index 2 of 0..3).
  np.testing.assert_array_equal(down, [[x[0, 0, 2, 2, 0], x[0, 0, 2, 6, 0]],
                                       [x[0, 0, 6, 2, 0], x[0, 0, 6, 6, 0]]])
  assert video_ops.downsample_nearest(x, 8) is x


def test_spatial_downsampling_averages_blocks_and_composes(rng):
  """f_s is the k x k block average (2x bilinear with half-pixel centres, repeated): a
  linear ramp lands on the new pixel centres, and f_s to 4 px of f_s to 8 px is f_s to
  4 px, on NumPy and JAX arrays alike."""
  cols = np.arange(16, dtype=np.float32) + 0.5  # value = x coordinate of pixel centres
  x = np.broadcast_to(cols[None, None, None, :, None], (1, 2, 16, 16, 3))
  for size in (8, 4):
    out = np.asarray(video_ops.downsample_frames(x, size))[0, 0, 0, :, 0]
    np.testing.assert_allclose(out, (np.arange(size) + 0.5) * 16 / size, atol=1e-5)
  y = rng.uniform(-1, 1, size=(2, 3, 16, 16, 3)).astype(np.float32)
  np.testing.assert_allclose(video_ops.downsample_frames(video_ops.downsample_frames(y, 8), 4),
                             video_ops.downsample_frames(y, 4), atol=1e-6)
  np.testing.assert_allclose(np.asarray(video_ops.downsample_frames(jnp.asarray(y), 4)),
                             video_ops.downsample_frames(y, 4), atol=1e-6)
  np.testing.assert_allclose(video_ops.downsample_frames(y, 8)[0, 0, 0, 0],
                             y[0, 0, :2, :2].mean(axis=(0, 1)), atol=1e-6)
  with pytest.raises(ValueError, match="whole number"):
    video_ops.downsample_frames(y, 6)


def test_downsample_video_is_the_level_below(rng):
  x = rng.uniform(-1, 1, size=(2, 12, 32, 32, 3)).astype(np.float32)
  low = np.asarray(video_ops.downsample_video(x, 2, 8))
  assert low.shape == (2, 6, 8, 8, 3)
  np.testing.assert_allclose(low[:, 1], np.asarray(video_ops.downsample_frames(x[:, 2], 8)),
                             atol=1e-6)


def test_a_real_pairs_low_half_is_the_level_below_s_real_view():
  """One operator: the demo chain's level 2 takes a clip of raw frames (its data pipeline),
  the training step halves it with f_s(f_t(.)) for D_M's real pair; level 1's pipeline
  takes the same raw frames at its own stride and size. The two agree to uint8 rounding
  (one step of 2/255), and are not a coincidence: another clip is far off."""
  chain = config_lib.load_config(CONFIG_DIR / "demo.py")
  level1, level2 = config_lib.chain_levels(chain)
  shapes = config_lib.level_shapes(level2)
  lows, views = [], []
  for index in range(3):
    # Each level's own source; square frames and clips exactly as long as each level's
    # run, so both start at the first frame with no crop.
    raw1, raw2 = (pipeline.get_source(c)[index]["video"] for c in (level1, level2))
    high = pipeline.take_clip(
        {"video": raw2[:level2.data.frames, :, :raw2.shape[1]], "label": 0},
        np.random.default_rng(0),
        pipeline.ClipSpec(level2.data.frames, 1, level2.data.resolution))
    low = pipeline.take_clip(
        {"video": raw1[:(level1.data.frames - 1) * 2 + 1, :, :raw1.shape[1]], "label": 0},
        np.random.default_rng(0),
        pipeline.ClipSpec(level1.data.frames, 2, level1.data.resolution))
    lows.append(np.asarray(video_ops.downsample_video(
        train_step.to_float(jnp.asarray(high["video"]))[None], shapes.time_factor,
        shapes.input_resolution))[0])
    views.append(np.asarray(train_step.to_float(jnp.asarray(low["video"]))))
  assert lows[0].shape == views[0].shape == (8, 16, 16, 3)
  for low, view in zip(lows, views):
    assert np.abs(low - view).max() <= 1 / 127.5 + 1e-6
  assert np.abs(lows[0] - views[1]).mean() > 0.05
