"""Writing videos: grids, the TensorBoard frame strip, GIF and MP4 files."""

import imageio.v3 as iio
import imageio_ffmpeg
import numpy as np

from hvg_jax import video_io


def _indexed(n, t, h=3, w=4):
  """Videos whose pixels hold (video, frame) in their first two channels."""
  v = np.zeros((n, t, h, w, 3), np.uint8)
  v[..., 0] = np.arange(n)[:, None, None, None]
  v[..., 1] = np.arange(t)[None, :, None, None]
  return v


def test_grid_places_videos_row_by_row():
  g = video_io.grid(_indexed(5, 2), columns=3, pad=1)
  assert g.shape == (2, 2 * 4 - 1, 3 * 5 - 1, 3)
  assert g[1, 0, 0, 0] == 0 and g[1, 0, 5, 0] == 1 and g[1, 4, 0, 0] == 3
  assert g[1, 4, 5, 1] == 1  # video 4, frame 1
  assert np.all(g[:, 4:, 10:] == 255)  # the empty sixth cell


def test_frame_strip_has_a_row_per_video_and_a_column_per_frame():
  strip = video_io.frame_strip(_indexed(3, 4), pad=1)
  assert strip.shape == (3 * 4 - 1, 4 * 5 - 1, 3)
  for video in range(3):
    for frame in range(4):
      assert tuple(strip[video * 4, frame * 5, :2]) == (video, frame)


def test_to_uint8_maps_the_generator_range():
  np.testing.assert_array_equal(video_io.to_uint8(np.array([-1.0, 0.0, 1.0, 2.0])),
                                [0, 128, 255, 255])


def test_gif_and_mp4_files(tmp_path):
  frames = np.random.default_rng(0).integers(0, 255, (5, 15, 17, 3), dtype=np.uint8)
  gif, mp4 = video_io.write_video_files(tmp_path / "sub" / "clip", frames)
  assert gif.name == "clip.gif" and mp4.name == "clip.mp4"
  np.testing.assert_array_equal(iio.imread(str(gif))[..., :3].shape, (5, 15, 17, 3))
  reader = imageio_ffmpeg.read_frames(str(mp4))
  meta = next(reader)
  assert meta["size"] == (18, 16) and len(list(reader)) == 5  # padded to even sizes


def test_ffmpeg_starts_without_python_code_between_fork_and_exec():
  """imageio-ffmpeg's default preexec_fn runs Python in the forked child, which can hang in
  a multithreaded process; importing hvg_jax turns it off (unless the user set it)."""
  from imageio_ffmpeg import _utils  # pylint: disable=import-outside-toplevel
  assert _utils._popen_kwargs(prevent_sigint=True)["preexec_fn"] is None  # pylint: disable=protected-access
