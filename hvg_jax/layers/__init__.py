"""Building blocks of the hierarchical video GAN, channels-last (B, T, H, W, C)."""

from hvg_jax.layers.blocks import DBlock, GBlock
from hvg_jax.layers.convgru import ConvGRU
from hvg_jax.layers.modes import sampling_view, standing_stats_view, training_view
from hvg_jax.layers.norm import FrameBatchNorm, StandingStat, reset_standing_stats
from hvg_jax.layers.projection import ProjectionHead
from hvg_jax.layers.separable import SeparableConv3D
from hvg_jax.layers.spectral import (SNConv, SNDense, SNEmbed, SpectralNormalized,
                                     SpectralVector, conv, power_iteration)
