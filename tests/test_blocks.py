"""Residual blocks and the projection head: shapes, and where they mix information."""

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from conftest import np_conv
from hvg_jax.layers import DBlock, GBlock, ProjectionHead, sampling_view
from hvg_jax.layers.blocks import avg_pool_2x, upsample_nearest_2x


@pytest.mark.parametrize("temporal", [False, True])
@pytest.mark.parametrize("upsample", [False, True])
def test_gblock_shapes(temporal, upsample, rng):
  block = GBlock(6, 4, cond_features=5, num_frames=3, upsample=upsample, temporal=temporal,
                 rngs=nnx.Rngs(0))
  y = block(rng.normal(size=(2, 3, 4, 4, 6)).astype(np.float32),
            rng.normal(size=(2, 5)).astype(np.float32))
  size = 8 if upsample else 4
  assert y.shape == (2, 3, size, size, 4)


def test_2d_gblock_keeps_frames_independent_and_3d_mixes_them(rng):
  x = rng.normal(size=(4, 5, 4, 4, 3)).astype(np.float32)
  cond = rng.normal(size=(4, 2)).astype(np.float32)
  x2 = x.copy()
  x2[:, 4] = rng.normal(size=x2[:, 4].shape)  # new content in the last frame only
  # The 3D block has two temporal convolutions of kernel 3: a reach of two frames.
  for temporal, untouched, reached in ((False, [0, 1, 2, 3], []), (True, [0, 1], [2, 3])):
    block = GBlock(3, 3, cond_features=2, num_frames=5, upsample=False, temporal=temporal,
                   rngs=nnx.Rngs(1))
    block = sampling_view(block, standing_stats=False)  # per-frame batch statistics
    y, y2 = np.asarray(block(x, cond)), np.asarray(block(x2, cond))
    np.testing.assert_array_equal(y[:, untouched], y2[:, untouched])
    for t in reached + [4]:
      assert not np.allclose(y[:, t], y2[:, t]), (temporal, t)


def test_dblock_downsamples_and_matches_a_numpy_reference(rng):
  block = DBlock(3, 4, downsample=True, preactivation=True, rngs=nnx.Rngs(2))
  block.eval()
  x = rng.normal(size=(2, 3, 8, 8, 3)).astype(np.float32)
  k1, k2, ksc = (np.asarray(c.normalized_kernel()) for c in
                 (block.conv1, block.conv2, block.shortcut))
  h = np_conv(np.maximum(np_conv(np.maximum(x, 0), k1), 0), k2)
  sc = np_conv(x, ksc)
  pool = lambda a: a.reshape(2, 3, 4, 2, 4, 2, -1).mean(axis=(3, 5))
  np.testing.assert_allclose(np.asarray(block(x)), pool(h) + pool(sc), atol=1e-5)


def test_3d_dblock_can_also_halve_time(rng):
  block = DBlock(3, 4, downsample=True, three_d=True, temporal_downsample=True,
                 rngs=nnx.Rngs(3))
  assert block(rng.normal(size=(2, 6, 8, 8, 3)).astype(np.float32)).shape == (2, 3, 4, 4, 4)


def test_pool_and_upsample_helpers():
  x = jnp.arange(16.0).reshape(1, 1, 4, 4, 1)
  np.testing.assert_allclose(avg_pool_2x(x)[0, 0, :, :, 0], [[2.5, 4.5], [10.5, 12.5]])
  np.testing.assert_array_equal(upsample_nearest_2x(x)[0, 0, :4, :4, 0],
                                [[0, 0, 1, 1], [0, 0, 1, 1], [4, 4, 5, 5], [4, 4, 5, 5]])


def test_projection_head_uses_the_class(rng):
  head = ProjectionHead(6, num_classes=5, rngs=nnx.Rngs(4))
  head.eval()
  x = rng.normal(size=(2, 3, 4, 4, 6)).astype(np.float32)
  a = np.asarray(head(x, jnp.array([0, 0])))
  b = np.asarray(head(x, jnp.array([3, 0])))
  assert a.shape == (2, 3)
  assert not np.allclose(a[0], b[0]) and np.allclose(a[1], b[1])
  h = np.maximum(x, 0).sum(axis=(2, 3))
  w = np.asarray(head.linear.normalized_kernel())[:, 0]
  e = np.asarray(head.embed.normalized_kernel())[3]
  np.testing.assert_allclose(b[0], h[0] @ w + h[0] @ e, rtol=1e-5)
