"""The papers' video views: f_t, f_s, frame repetition and nearest resizing."""

import numpy as np

from hvg_jax import video_ops


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


def test_bilinear_downsampling_keeps_linear_ramps():
  """Away from the border, a linear ramp sampled at the new pixel centres."""
  cols = np.arange(16, dtype=np.float32) + 0.5  # value = x coordinate of pixel centres
  x = np.broadcast_to(cols[None, None, None, :, None], (1, 2, 16, 16, 3))
  for size in (8, 4):
    out = np.asarray(video_ops.resize_bilinear(x, size))[0, 0, 0, :, 0]
    centres = (np.arange(size) + 0.5) * 16 / size
    np.testing.assert_allclose(out[1:-1], centres[1:-1], atol=1e-4)
  const = np.full((1, 2, 16, 16, 3), 0.3, np.float32)
  np.testing.assert_allclose(np.asarray(video_ops.resize_bilinear(const, 4)), 0.3, atol=1e-6)


def test_downsample_video_is_the_level_below(rng):
  x = rng.uniform(-1, 1, size=(2, 12, 32, 32, 3)).astype(np.float32)
  low = np.asarray(video_ops.downsample_video(x, 2, 8))
  assert low.shape == (2, 6, 8, 8, 3)
  np.testing.assert_allclose(low[:, 1], np.asarray(video_ops.resize_bilinear(x[:, 2:3], 8))[:, 0],
                             atol=1e-6)
