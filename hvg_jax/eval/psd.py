"""Power spectral density of generated frames over time (HVG appendix D).

For chosen frame indices (1, 10, 24, 48 by default, 1-based as in the paper) the radially
averaged power spectrum of each frame's luminance, averaged over the videos of a set; the
paper reports the mean and spread over three sets of 600 videos, which shows whether
detail fades as a video goes on.
"""

import numpy as np

from hvg_jax import files

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


def video_spectra(videos, frames=FRAMES) -> dict[str, np.ndarray]:
  """{"frame_<f>": (N, bins)} radial spectra of the chosen (1-based) frames the
  (N, T, H, W, 3) videos have, of their luminance in [0, 1] (uint8) or [-1, 1] (float)
  rescaled to [0, 1] so generated and real videos compare."""
  videos = np.asarray(videos)
  scaled = videos / 255.0 if videos.dtype == np.uint8 else (videos + 1.0) / 2.0
  return {f"frame_{f}": np.stack([radial_power_spectrum(luminance(v[f - 1]))
                                  for v in scaled])
          for f in frames if f <= videos.shape[1]}


def over_sets(spectra: np.ndarray, sets: int = 3) -> tuple[np.ndarray, np.ndarray]:
  """(mean, std) over ``sets`` equal parts of (N, bins) per-video spectra of the parts'
  mean spectra (HVG: three sets of 600 videos)."""
  per_set = [part.mean(axis=0) for part in np.array_split(spectra, sets)]
  return np.mean(per_set, axis=0), np.std(per_set, axis=0)


def log_distance(a: np.ndarray, b: np.ndarray) -> float:
  """Mean |log10 a - log10 b| over the non-zero frequencies: how far two spectra are, in
  decades (0 for the same spectrum)."""
  return float(np.mean(np.abs(np.log10(a[1:] + 1e-12) - np.log10(b[1:] + 1e-12))))


def plot(path, generated: dict, real: dict | None = None, title: str = ""):
  """One panel per frame: mean spectrum with a band of one standard deviation, generated
  and (if given) real, log power over radial frequency. ``generated``/``real``:
  {"frame_<f>": (mean, std)}."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  from matplotlib import pyplot as plt  # pylint: disable=g-import-not-at-top
  names = list(generated)
  fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3.4), squeeze=False)
  for ax, name in zip(axes[0], names):
    for label, curves, color in (("generated", generated, "tab:red"),
                                 ("real", real or {}, "tab:blue")):
      if name not in curves:
        continue
      mean, std = curves[name]
      freq = np.arange(1, len(mean))
      ax.plot(freq, mean[1:], color=color, label=label)
      ax.fill_between(freq, np.maximum(mean[1:] - std[1:], 1e-12), mean[1:] + std[1:],
                      color=color, alpha=0.25)
    ax.set_yscale("log")
    ax.set_title(f"frame {name.removeprefix('frame_')}")
    ax.set_xlabel("spatial frequency (cycles per frame)")
  axes[0][0].set_ylabel("power")
  axes[0][0].legend()
  if title:
    fig.suptitle(title)
  fig.tight_layout()
  with files.atomic(path) as f:
    fig.savefig(f, dpi=100, format="png")
  plt.close(fig)


def high_frequency_power(videos_uint8) -> np.ndarray:
  """(T,) mean power of the upper half of the radial spectrum of (N, T, H, W, 3) uint8
  videos, per frame position: does detail fade over a video?"""
  out = []
  for t in range(videos_uint8.shape[1]):
    spectra = video_spectra(videos_uint8[:, t:t + 1], frames=(1,))["frame_1"]
    out.append(spectra[:, spectra.shape[1] // 2:].mean())
  return np.asarray(out)
