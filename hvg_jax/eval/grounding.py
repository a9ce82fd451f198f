"""Grounding of an upsampling level: how far downsample(x^l) is from its input x^{l-1}.

The matching discriminator exists to keep an upsampler faithful to its input (HVG 5.4:
without it the upsampler ignores x^{l-1}). Measured as the mean squared and mean absolute
difference, in [-1, 1] units, between f_s(f_t(x^l)) (the papers' downsampling, as for
real pairs) and x^{l-1}: zero for real pairs, large for an upsampler that ignores its input.
"""

import numpy as np

from hvg_jax import video_ops


def grounding(video_high, video_low, time_factor: int) -> dict[str, float]:
  """{"mse", "mae"} between downsample(video_high) and video_low, both (N, T, H, W, 3)."""
  low = np.asarray(video_low, np.float32)
  down = np.asarray(video_ops.downsample_video(np.asarray(video_high, np.float32),
                                               time_factor, low.shape[2]))
  if down.shape != low.shape:
    raise ValueError(f"downsampled {down.shape} does not match the input {low.shape}")
  diff = down - low
  return {"mse": float(np.mean(diff ** 2)), "mae": float(np.mean(np.abs(diff)))}
