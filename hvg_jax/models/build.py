"""Builds a level's generator and discriminators from its config."""

import jax.numpy as jnp
import ml_collections
from flax import nnx

from hvg_jax import config_lib
from hvg_jax.models.discriminators import (MatchingDiscriminator, SpatialDiscriminator,
                                           TemporalDiscriminator)
from hvg_jax.models.generator import Level1Generator
from hvg_jax.models.upsampler import UpsamplingGenerator


class Discriminators(nnx.Module):
  """A level's discriminators: D_S, D_T and, for upsampling levels, D_M.

  Returns each one's scores, (B, n) per discriminator; the hinge loss averages them all
  over samples and output locations.
  """

  def __init__(self, spatial, temporal, matching=None):
    self.spatial = spatial
    self.temporal = temporal
    self.matching = matching

  def __call__(self, video, labels=None, *, key, video_low=None, matching_video=None) -> dict:
    """Scores of D_S, D_T (and D_M) of ``video``; D_M's of ``matching_video`` when given
    (the video before D's augmentation, hvg_jax.train.augment)."""
    scores = {"spatial": self.spatial(video, labels, key=key),
              "temporal": self.temporal(video, labels)}
    if self.matching is not None:
      if video_low is None:
        raise ValueError("the matching discriminator needs the low-resolution input video")
      matching_video = video if matching_video is None else matching_video
      scores["matching"] = self.matching(matching_video, video_low, labels)
    return scores


def _dtype(config):
  return jnp.dtype(config.model.dtype)


def build_generator(config: ml_collections.ConfigDict, *, rngs: nnx.Rngs):
  """G of the config's level: Level1Generator or UpsamplingGenerator."""
  shapes = config_lib.level_shapes(config)
  g = config.model.g
  common = dict(resolution=shapes.resolution, num_frames=shapes.train_frames, ch=g.ch,
                mults=tuple(g.mults), z_dim=g.z_dim, num_classes=shapes.num_classes,
                embed_dim=g.embed_dim, remat=config.model.remat, dtype=_dtype(config),
                rngs=rngs)
  if not shapes.upsampling:
    generator = Level1Generator(keep_unit=g.keep_unit, scan_unroll=g.scan_unroll, **common)
  else:
    generator = UpsamplingGenerator(input_resolution=shapes.input_resolution,
                                    time_factor=shapes.time_factor,
                                    input_skip=g.input_skip, **common)
  return generator


def build_discriminators(config: ml_collections.ConfigDict, *, rngs: nnx.Rngs):
  """D_S, D_T (and D_M when ``config.model.matching``) of the config's level."""
  shapes = config_lib.level_shapes(config)
  d = config.model.d
  common = dict(ch=d.ch, mults=tuple(d.mults), num_classes=shapes.num_classes,
                remat=config.model.remat, dtype=_dtype(config), rngs=rngs)
  spatial = SpatialDiscriminator(resolution=shapes.resolution,
                                 k=d.spatial_frames, **common)
  temporal = TemporalDiscriminator(resolution=shapes.resolution,
                                   num_3d_blocks=d.temporal_3d_blocks,
                                   temporal_downsample=d.temporal_downsample, **common)
  matching = None
  if shapes.upsampling and config.model.matching:
    matching = MatchingDiscriminator(
        input_resolution=shapes.input_resolution, time_factor=shapes.time_factor,
        num_3d_blocks=d.temporal_3d_blocks, pool=config.model.matching_pool,
        temporal_downsample=d.temporal_downsample, **common)
  return Discriminators(spatial, temporal, matching)
