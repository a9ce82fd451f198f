"""Level-1 generator (DVD-GAN style; HVG B.1): noise [and class] -> a whole coarse video.

[z; e(y)] -> linear -> 4x4x(ch*mults[0]), the same tensor for every frame -> units of one
ConvGRU over time and two 2D ResNet blocks per frame (the first upsamples, except in the
unit that keeps the resolution) -> BN-ReLU-conv3x3-tanh to RGB in [-1, 1]. [z; e(y)] is the
condition of every BatchNorm.
"""

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from hvg_jax.layers import ConvGRU, FrameBatchNorm, GBlock, SNConv, SNDense, remat
from hvg_jax.resolution import generator_upsampling


class LatentStem(nnx.Module):
  """[z; e(y)] -> the condition vector and a 4x4 map repeated over ``num_frames``."""

  def __init__(self, *, z_dim: int, num_classes: int, embed_dim: int, features: int,
               dtype=jnp.float32, rngs: nnx.Rngs):
    self.z_dim = z_dim
    self.features = features
    self.dtype = dtype
    # A plain learned embedding, as BigGAN's shared G embedding (no spectral norm).
    self.embed = nnx.Embed(num_classes, embed_dim,
                           embedding_init=jax.nn.initializers.orthogonal(),
                           rngs=rngs) if num_classes else None
    self.cond_features = z_dim + (embed_dim if num_classes else 0)
    self.linear = SNDense(self.cond_features, 4 * 4 * features, dtype=dtype, rngs=rngs)

  def __call__(self, z, labels, num_frames: int):
    if z.shape[-1] != self.z_dim:
      raise ValueError(f"z has {z.shape[-1]} dimensions, the generator expects {self.z_dim}")
    cond = z.astype(jnp.float32)
    if self.embed is not None:
      if labels is None:
        raise ValueError("this generator is class-conditional: pass labels")
      cond = jnp.concatenate([cond, self.embed(labels).astype(jnp.float32)], axis=-1)
    h = self.linear(cond).reshape(z.shape[0], 1, 4, 4, self.features)
    return cond, jnp.broadcast_to(h, (z.shape[0], num_frames, 4, 4, self.features))


class RGBHead(nnx.Module):
  """BN-ReLU-conv3x3-tanh to RGB (plain per-frame BN with its own affine)."""

  def __init__(self, features: int, *, num_frames: int, dtype=jnp.float32,
               rngs: nnx.Rngs):
    self.bn = FrameBatchNorm(features, num_frames=num_frames, dtype=dtype, rngs=rngs)
    self.conv = SNConv(features, 3, (3, 3), dtype=dtype, rngs=rngs)

  def __call__(self, x, offset=None):
    """``offset``: added before the tanh (an upsampler's upscaled input, in its units)."""
    y = self.conv(jax.nn.relu(self.bn(x))).astype(jnp.float32)
    return jnp.tanh(y if offset is None else y + offset)


class Level1Unit(nnx.Module):
  """ConvGRU over time, then two 2D ResNet blocks on every frame.

  The last unit's blocks lead only to the output BatchNorm: no output biases (GBlock).
  """

  def __init__(self, in_features: int, features: int, *, upsample: bool,
               cond_features: int, num_frames: int, last: bool, scan_unroll: int = 1,
               dtype=jnp.float32, rngs: nnx.Rngs):
    self.gru = ConvGRU(in_features, features, unroll=scan_unroll, dtype=dtype, rngs=rngs)
    block = dict(cond_features=cond_features, num_frames=num_frames, output_bias=not last,
                 dtype=dtype, rngs=rngs)
    self.block1 = GBlock(features, features, upsample=upsample, **block)
    self.block2 = GBlock(features, features, upsample=False, **block)

  def __call__(self, x, cond, h0=None):
    """(output, the ConvGRU's last hidden state)."""
    h = self.gru(x, h0)
    return self.block2(self.block1(h, cond), cond), h[:, -1]


class Level1Generator(nnx.Module):
  """G_1(z, y) -> (B, T, R, R, 3) in [-1, 1].

  ``num_frames`` is the training length (it sizes the standing BatchNorm statistics); a
  call may unroll the ConvGRU for any other length. ``remat``: recompute each unit's
  activations in the backward pass (config model.remat).
  """

  def __init__(self, *, resolution: int, num_frames: int, ch: int, mults: Sequence[int],
               z_dim: int = 128, num_classes: int = 0, embed_dim: int = 128,
               keep_unit: str = "last", scan_unroll: int = 1, remat: bool = False,
               dtype=jnp.float32, rngs: nnx.Rngs):
    self.remat = remat
    self.resolution = resolution
    self.num_frames = num_frames
    widths = [ch * m for m in mults]
    self.stem = LatentStem(z_dim=z_dim, num_classes=num_classes, embed_dim=embed_dim,
                           features=widths[0], dtype=dtype, rngs=rngs)
    ups = generator_upsampling(len(widths), resolution, keep_unit)
    self.units = nnx.List([
        Level1Unit(w_in, w, upsample=up, cond_features=self.stem.cond_features,
                   num_frames=num_frames, last=i == len(widths) - 1, scan_unroll=scan_unroll,
                   dtype=dtype, rngs=rngs)
        for i, (w_in, w, up) in enumerate(zip([widths[0]] + widths[:-1], widths, ups))])
    self.head = RGBHead(widths[-1], num_frames=num_frames, dtype=dtype, rngs=rngs)

  def __call__(self, z, labels=None, *, num_frames: int | None = None):
    return self.continued(z, labels, num_frames=num_frames)[0]

  def continued(self, z, labels=None, *, num_frames: int | None = None, state=None):
    """(the video's next ``num_frames`` frames, the state after them), after ``state``: the
    units' ConvGRU hidden states after the frames before (None: the video's start). The
    ConvGRUs are causal and everything else is per frame, so a video made in pieces is
    the video made at once (long videos in flat memory; statistics per frame)."""
    cond, h = self.stem(z, labels, num_frames or self.num_frames)
    state = [None] * len(self.units) if state is None else state
    after = []
    for unit, h0 in zip(self.units, state):
      h, last = remat.call(unit, h, cond, h0, enabled=self.remat)
      after.append(last)
    return self.head(h), after
