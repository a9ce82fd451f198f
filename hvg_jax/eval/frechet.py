"""The Fréchet distance between Gaussians fitted to two sets of features (FVD, FID).

  d^2 = |mu_1 - mu_2|^2 + tr(S_1) + tr(S_2) - 2 tr((S_1 S_2)^{1/2})

computed in float64. tr((S_1 S_2)^{1/2}) is the sum of the square roots of the
eigenvalues of S_1^{1/2} S_2 S_1^{1/2}, a symmetric positive semi-definite matrix: two
symmetric eigendecompositions, no general (possibly complex) matrix square root, and
rounding below zero clipped. The reference code uses scipy.linalg.sqrtm; the two agree
(tests) while this one stays real and stable for singular covariances (fewer samples than
feature dimensions).
"""

import dataclasses

import numpy as np

from hvg_jax import files


@dataclasses.dataclass(frozen=True)
class Gaussian:
  """Mean and covariance of a set of features."""
  mean: np.ndarray
  cov: np.ndarray
  count: int

  def save(self, path):
    with files.atomic(path) as f:
      np.savez(f, mean=self.mean, cov=self.cov, count=self.count)

  @classmethod
  def load(cls, path) -> "Gaussian":
    with np.load(path) as f:
      return cls(f["mean"], f["cov"], int(f["count"]))


def fit(features) -> Gaussian:
  """The Gaussian of (N, D) features (unbiased covariance, as the reference code)."""
  x = np.asarray(features, np.float64)
  if x.ndim != 2 or len(x) < 2:
    raise ValueError(f"need (N >= 2, D) features, got shape {x.shape}")
  return Gaussian(x.mean(axis=0), np.cov(x, rowvar=False), len(x))


def _sqrt_psd(matrix):
  values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
  return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def trace_sqrt_product(cov1, cov2) -> float:
  """tr((cov1 cov2)^{1/2}) for symmetric positive semi-definite matrices."""
  root = _sqrt_psd(np.asarray(cov1, np.float64))
  inner = root @ np.asarray(cov2, np.float64) @ root
  values = np.linalg.eigvalsh((inner + inner.T) / 2)
  return float(np.sqrt(np.clip(values, 0, None)).sum())


def distance(a: Gaussian, b: Gaussian) -> float:
  """The Fréchet distance (the squared 2-Wasserstein distance) between two Gaussians."""
  if a.mean.shape != b.mean.shape:
    raise ValueError(f"features of different sizes: {a.mean.shape} and {b.mean.shape}")
  diff = a.mean - b.mean
  return float(diff @ diff + np.trace(a.cov) + np.trace(b.cov)
               - 2.0 * trace_sqrt_product(a.cov, b.cov))
