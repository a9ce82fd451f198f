"""The built-in demo data and the input pipeline: contents, order, crops, sharding."""

import numpy as np
import pytest

from conftest import CONFIG_DIR
from hvg_jax import config_lib
from hvg_jax.data import pipeline
from hvg_jax.data.demo import SHAPES, DemoVideos


def _demo_config(**train):
  c = config_lib.load_config(CONFIG_DIR / "demo_level1.py", "runlocal")
  c.train.update(train)
  return c


def test_demo_videos_are_deterministic_and_labelled():
  a, b = DemoVideos(num_videos=20, frames=6, height=16, seed=3), DemoVideos(
      num_videos=20, frames=6, height=16, seed=3)
  ex = a[7]
  assert ex["video"].shape == (6, 16, 20, 3) and ex["video"].dtype == np.uint8
  np.testing.assert_array_equal(ex["video"], b[7]["video"])
  assert ex["label"] == b[7]["label"]
  assert not np.array_equal(a[7]["video"], a[8]["video"])
  other_seed = DemoVideos(num_videos=20, frames=6, height=16, seed=4)
  assert not np.array_equal(a[7]["video"], other_seed[7]["video"])
  labels = {int(a[i]["label"]) for i in range(20)}
  assert labels <= set(range(len(SHAPES))) and len(labels) > 1
  with pytest.raises(IndexError):
    a[20]


def test_demo_videos_move_and_render_at_any_size():
  small = DemoVideos(num_videos=4, frames=12, height=16)[1]["video"].astype(np.float32)
  big = DemoVideos(num_videos=4, frames=12, height=64)[1]["video"].astype(np.float32)
  assert np.abs(small[0] - small[-1]).mean() > 1.0, "the shape moves"
  # The same scene: the 64 px render averaged down to 16 px is close to the 16 px one.
  pooled = big.reshape(12, 16, 4, 20, 4, 3).mean(axis=(2, 4))
  assert np.abs(pooled - small).mean() < 12.0


def test_take_clip_strides_and_crops_inside_the_frame():
  """Pixel values encode the frame index and the position: the clip shows consecutive
  frames at the stride, and a square crop that lies inside the frame."""
  t, h, w = 30, 12, 20
  video = np.zeros((t, h, w, 3), np.uint8)
  video[..., 0] = np.arange(t)[:, None, None]
  video[..., 1] = np.arange(h)[None, :, None]
  video[..., 2] = np.arange(w)[None, None, :]
  spec = pipeline.ClipSpec(frames=5, stride=3, resolution=12)
  starts, lefts = set(), set()
  for seed in range(30):
    clip = pipeline.take_clip({"video": video, "label": 2}, np.random.default_rng(seed), spec)
    v = clip["video"]
    assert v.shape == (5, 12, 12, 3) and clip["label"] == 2
    frames = v[:, 0, 0, 0].astype(int)
    np.testing.assert_array_equal(np.diff(frames), 3)
    assert 0 <= frames[0] and frames[-1] < t
    rows, cols = v[0, :, 0, 1].astype(int), v[0, 0, :, 2].astype(int)
    np.testing.assert_array_equal(np.diff(rows), 1)
    np.testing.assert_array_equal(np.diff(cols), 1)
    assert rows[0] == 0 and 0 <= cols[0] and cols[-1] < w
    starts.add(frames[0])
    lefts.add(cols[0])
  assert len(starts) > 5 and len(lefts) > 3, "start frames and crops are random"
  with pytest.raises(ValueError, match="too short"):
    pipeline.take_clip({"video": video[:12], "label": 0}, np.random.default_rng(0), spec)


def test_take_clip_resizes_to_the_level_resolution():
  video = np.full((9, 32, 40, 3), 100, np.uint8)
  clip = pipeline.take_clip({"video": video, "label": 0}, np.random.default_rng(0),
                            pipeline.ClipSpec(frames=4, stride=2, resolution=8))
  assert clip["video"].shape == (4, 8, 8, 3)
  np.testing.assert_array_equal(clip["video"], 100)


def test_level_batches_and_their_order():
  c = _demo_config(batch_size=4, d_steps=2)
  ds = pipeline.level_dataset(c, pipeline.get_source(c))
  first = ds[0]
  assert first["video"].shape == (2, 4, 8, 8, 8, 3) and first["video"].dtype == np.uint8
  assert first["label"].shape == (2, 4)
  again = pipeline.level_dataset(c, pipeline.get_source(c))
  np.testing.assert_array_equal(again[5]["video"], ds[5]["video"])
  # Reading from iteration k on gives what iterating from 0 gives at k: exact resumption.
  resumed = next(pipeline.iterate(ds, 3, num_threads=2, prefetch=2))
  from_start = pipeline.iterate(ds, 0, num_threads=2, prefetch=2)
  for _ in range(3):
    next(from_start)
  np.testing.assert_array_equal(resumed["video"], next(from_start)["video"])
  c.data.seed = 1
  assert not np.array_equal(pipeline.level_dataset(c, pipeline.get_source(c))[0]["video"],
                            first["video"])


def test_processes_read_disjoint_shards_of_the_same_global_batch():
  c = _demo_config(batch_size=8, d_steps=1)
  source = pipeline.get_source(c)
  whole = pipeline.level_dataset(c, source)
  shards = [pipeline.level_dataset(c, source, process_index=p, process_count=2)
            for p in range(2)]
  for i in (0, 3):
    joined = np.concatenate([s[i]["video"] for s in shards], axis=1)
    np.testing.assert_array_equal(joined, whole[i]["video"])
  with pytest.raises(config_lib.ConfigError, match="config.train.batch_size"):
    pipeline.level_dataset(c, source, process_index=0, process_count=3)


def test_unknown_data_set_is_a_clear_error():
  c = _demo_config()
  c.data.name = "moving_mnist"
  with pytest.raises(config_lib.ConfigError, match="config.data.name: no data set .moving_mnist."):
    pipeline.get_source(c)
