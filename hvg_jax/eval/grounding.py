"""Grounding of an upsampling level: how far downsample(x^l) is from its input x^{l-1}.

The matching discriminator exists to keep an upsampler faithful to its input (HVG 5.4:
without it the upsampler ignores x^{l-1}). Measured as the mean squared and mean absolute
difference, in [-1, 1] units, between f_s(f_t(x^l)) (the papers' downsampling, as for
real pairs) and x^{l-1}: zero for real pairs, large for an upsampler that ignores its input.
"""

import numpy as np

from hvg_jax import video_ops


def grounding(video_high, video_low, time_factor: int) -> dict[str, float]:
  """{"mse", "mae", "mse_shuffled"} between downsample(video_high) and video_low, both
  (N, T, H, W, 3). ``mse_shuffled`` pairs each output with the next video's input (N >= 2):
  what an upsampler that ignores its input scores, the scale ``mse`` is read against
  (their ratio: 0 grounded, about 1 ungrounded)."""
  low = np.asarray(video_low, np.float32)
  down = np.asarray(video_ops.downsample_video(np.asarray(video_high, np.float32),
                                               time_factor, low.shape[2]))
  if down.shape != low.shape:
    raise ValueError(f"downsampled {down.shape} does not match the input {low.shape}")
  diff = down - low
  out = {"mse": float(np.mean(diff ** 2)), "mae": float(np.mean(np.abs(diff)))}
  if len(low) >= 2:
    out["mse_shuffled"] = float(np.mean((down - np.roll(low, 1, axis=0)) ** 2))
  return out
