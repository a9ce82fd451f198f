"""Power spectral density of generated frames over time (HVG appendix D).

For chosen frame indices (1, 10, 24, 48 by default, 1-based as in the paper) the radially
averaged power spectrum of each frame's luminance, averaged over the videos of a set; the
paper reports the mean and spread over three sets of 600 videos, which shows whether
detail fades as a video goes on.
"""

import numpy as np

FRAMES = (1, 10, 24, 48)


def radial_power_spectrum(image) -> np.ndarray:
  """(H, W) -> power at integer radial frequencies 0 .. min(H, W) // 2 (cycles per image),
  the mean of |FFT|^2 over each ring, normalised by the number of pixels."""
  x = np.asarray(image, np.float64)
  h, w = x.shape
  power = np.abs(np.fft.fft2(x - x.mean())) ** 2 / (h * w)
  fy = np.fft.fftfreq(h) * h
  fx = np.fft.fftfreq(w) * w
  radius = np.round(np.sqrt(fy[:, None] ** 2 + fx[None, :] ** 2)).astype(int)
  n = min(h, w) // 2 + 1
  sums = np.bincount(radius.ravel(), power.ravel(), minlength=n)[:n]
  counts = np.bincount(radius.ravel(), minlength=n)[:n]
  return sums / np.maximum(counts, 1)


def luminance(video) -> np.ndarray:
  """(..., 3) RGB -> (...) luma (ITU-R 601)."""
  v = np.asarray(video, np.float64)
  return v[..., 0] * 0.299 + v[..., 1] * 0.587 + v[..., 2] * 0.114


def video_psd(videos, frames=FRAMES) -> dict[int, np.ndarray]:
  """{frame (1-based): mean radial spectrum over the (N, T, H, W, 3) videos} for the
  chosen frames the videos have."""
  videos = np.asarray(videos)
  out = {}
  for f in frames:
    if f <= videos.shape[1]:
      out[f] = np.mean([radial_power_spectrum(luminance(v[f - 1])) for v in videos], axis=0)
  return out


def psd_over_sets(sets, frames=FRAMES) -> dict[int, tuple[np.ndarray, np.ndarray]]:
  """{frame: (mean, std) of the per-set spectra} over several sets of videos."""
  per_set = [video_psd(s, frames) for s in sets]
  return {f: (np.mean([p[f] for p in per_set], axis=0), np.std([p[f] for p in per_set], axis=0))
          for f in per_set[0]}
