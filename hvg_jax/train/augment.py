"""Differentiable augmentation of what the discriminators see (DiffAugment: Zhao et al.,
"Differentiable Augmentation for Data-Efficient GAN Training", 2020), for small data sets.

With a few dozen clips, D memorises them within a few hundred steps and G's gradients stop
carrying the data's colours and layout (RESULTS.md, "Real clips on a CPU"). DiffAugment
transforms real and generated videos alike, in D's steps and G's, with differentiable
operations, so D cannot memorise and G still learns the un-augmented distribution. Each
transform draws one setting per video and applies it to every frame (D_T sees a video whose
frames moved together). ``config.train.d_augment``: a comma-separated policy, "" (the
papers') for none.
"""

import jax
import jax.numpy as jnp

from hvg_jax.config_lib.validation import D_AUGMENTATIONS


def _color(video, key):
  """Brightness, saturation and contrast, as DiffAugment's (videos in [-1, 1])."""
  b = video.shape[0]
  k_b, k_s, k_c = jax.random.split(key, 3)
  shape = (b, 1, 1, 1, 1)
  video = video + (jax.random.uniform(k_b, shape, video.dtype) - 0.5)
  mean = video.mean(axis=-1, keepdims=True)
  video = (video - mean) * (jax.random.uniform(k_s, shape, video.dtype) * 2) + mean
  mean = video.mean(axis=(1, 2, 3, 4), keepdims=True)
  return (video - mean) * (jax.random.uniform(k_c, shape, video.dtype) + 0.5) + mean


def _translation(video, key, ratio: float = 0.125):
  """Shifts every video by up to ``ratio`` of its size, zeros (grey) filling in."""
  b, t, h, w, c = video.shape
  sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
  k_y, k_x = jax.random.split(key)
  dy = jax.random.randint(k_y, (b,), -sh, sh + 1)
  dx = jax.random.randint(k_x, (b,), -sw, sw + 1)
  padded = jnp.pad(video, ((0, 0), (0, 0), (sh, sh), (sw, sw), (0, 0)))

  def one(v, y, x):
    return jax.lax.dynamic_slice(v, (0, sh - y, sw - x, 0), (t, h, w, c))

  return jax.vmap(one)(padded, dy, dx)


def _cutout(video, key, ratio: float = 0.5):
  """Zeroes (greys) a random square of ``ratio`` of the size in every video."""
  b, _, h, w, _ = video.shape
  ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
  k_y, k_x = jax.random.split(key)
  top = jax.random.randint(k_y, (b, 1, 1), 0, h - ch + 1)
  left = jax.random.randint(k_x, (b, 1, 1), 0, w - cw + 1)
  rows, cols = jnp.arange(h)[None, :, None], jnp.arange(w)[None, None, :]
  inside = (rows >= top) & (rows < top + ch) & (cols >= left) & (cols < left + cw)
  return video * (~inside)[:, None, :, :, None].astype(video.dtype)


_TRANSFORMS = {"color": _color, "translation": _translation, "cutout": _cutout}
assert set(_TRANSFORMS) == set(D_AUGMENTATIONS)  # the names configs are checked against


def parse(policy: str) -> tuple[str, ...]:
  return tuple(p.strip() for p in policy.split(",") if p.strip())


def augment(video, key, policy: tuple[str, ...]):
  """``video`` (B, T, H, W, 3) in [-1, 1] through the policy's transforms, in order."""
  for name, k in zip(policy, jax.random.split(key, len(policy))):
    video = _TRANSFORMS[name](video, k)
  return video


def scores(d, video, labels, *, key, video_low, policy: tuple[str, ...]) -> dict:
  """D's scores of ``video``: D_S's and D_T's of it augmented by ``policy`` (empty: as it
  is, with the key as it is), D_M's of it as it is (D_M compares a video with its
  low-resolution input, which transforming one of them alone would break)."""
  if not policy:
    return d(video, labels, key=key, video_low=video_low)
  key, k_augment = jax.random.split(key)
  return d(augment(video, k_augment, policy), labels, key=key, video_low=video_low,
           matching_video=video)
