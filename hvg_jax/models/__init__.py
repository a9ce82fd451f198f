"""The generators and discriminators of every level."""

from hvg_jax.models.build import Discriminators, build_discriminators, build_generator
from hvg_jax.models.discriminators import (MatchingDiscriminator, SpatialDiscriminator,
                                           TemporalDiscriminator, VideoDiscriminator,
                                           select_frames)
from hvg_jax.models.generator import Level1Generator
from hvg_jax.models.upsampler import UpsamplingGenerator
