"""The Inception Score from a classifier's class posteriors (IS; I3D's for Kinetics).

  IS = exp(E_x KL(p(y|x) || p(y))),

computed on ``splits`` disjoint parts of the samples (10 in the reference code), reported
as the mean and standard deviation over the parts.
"""

import numpy as np


def inception_score(probabilities, splits: int = 10) -> tuple[float, float]:
  """(mean, std) over ``splits`` parts of (N, classes) posteriors (rows summing to 1)."""
  p = np.asarray(probabilities, np.float64)
  if p.ndim != 2 or len(p) < splits:
    raise ValueError(f"need (N >= splits={splits}, classes) posteriors, got {p.shape}")
  scores = []
  for part in np.array_split(p, splits):
    marginal = part.mean(axis=0, keepdims=True)
    kl = np.sum(part * (np.log(np.clip(part, 1e-30, None))
                        - np.log(np.clip(marginal, 1e-30, None))), axis=1)
    scores.append(np.exp(kl.mean()))
  return float(np.mean(scores)), float(np.std(scores))


def softmax(logits) -> np.ndarray:
  z = np.asarray(logits, np.float64)
  z = z - z.max(axis=-1, keepdims=True)
  e = np.exp(z)
  return e / e.sum(axis=-1, keepdims=True)
