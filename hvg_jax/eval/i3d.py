"""I3D: Inception-v1 inflated to 3D (Carreira & Zisserman 2017), the Kinetics-400 network
the FVD reference code (google-research/frechet_video_distance) takes its logits from.

Channels last, (B, T, H, W, 3) in [-1, 1], 224x224 frames. Convolutions and max pools pad
'SAME' as TensorFlow does (XLA's SAME: the odd pixel of padding at the end), max pools
ignoring the padding. BatchNorm runs on stored statistics (epsilon 1e-3, as the DeepMind
model). Returns the logits averaged over time (FVD, IS) and the 1024 average-pooled
features averaged over time (FID). ``units`` names every layer as the DeepMind checkpoint
does (Conv3d_1a_7x7, Mixed_3b/Branch_1/Conv3d_0b_3x3, ...): the weights file's names
(hvg_jax.eval.i3d_weights). ``width_scale`` < 1 narrows every layer, for tests only: the
metrics are defined by the full network.
"""

import jax
import jax.numpy as jnp
from flax import nnx

# (branch 0, branch 1 reduce/out, branch 2 reduce/out, branch 3 pool projection)
MIXED = {
    "Mixed_3b": (64, 96, 128, 16, 32, 32),
    "Mixed_3c": (128, 128, 192, 32, 96, 64),
    "Mixed_4b": (192, 96, 208, 16, 48, 64),
    "Mixed_4c": (160, 112, 224, 24, 64, 64),
    "Mixed_4d": (128, 128, 256, 24, 64, 64),
    "Mixed_4e": (112, 144, 288, 32, 64, 64),
    "Mixed_4f": (256, 160, 320, 32, 128, 128),
    "Mixed_5b": (256, 160, 320, 32, 128, 128),
    "Mixed_5c": (384, 192, 384, 48, 128, 128),
}


def max_pool_same(x, window, strides):
  """TensorFlow's max_pool3d with padding='SAME' (padding never wins the max)."""
  return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, *window, 1), (1, *strides, 1),
                               "SAME")


class Unit3D(nnx.Module):
  """Conv3D (no bias) -> BatchNorm -> ReLU; the logits layer: conv with bias only."""

  def __init__(self, in_features: int, features: int, kernel=(1, 1, 1), strides=(1, 1, 1),
               *, norm_and_relu: bool = True, rngs: nnx.Rngs):
    self.conv = nnx.Conv(in_features, features, kernel, strides=strides, padding="SAME",
                         use_bias=not norm_and_relu, rngs=rngs)
    self.bn = nnx.BatchNorm(features, epsilon=1e-3, use_running_average=True,
                            rngs=rngs) if norm_and_relu else None

  def __call__(self, x):
    x = self.conv(x)
    return jax.nn.relu(self.bn(x)) if self.bn is not None else x


# (DeepMind name inside a block, attribute of Mixed)
BRANCHES = (("Branch_0/Conv3d_0a_1x1", "branch_0"), ("Branch_1/Conv3d_0a_1x1", "branch_1a"),
            ("Branch_1/Conv3d_0b_3x3", "branch_1b"), ("Branch_2/Conv3d_0a_1x1", "branch_2a"),
            ("Branch_2/Conv3d_0b_3x3", "branch_2b"), ("Branch_3/Conv3d_0b_1x1", "branch_3"))
STEM = ("Conv3d_1a_7x7", "Conv3d_2b_1x1", "Conv3d_2c_3x3")
LOGITS = "Logits/Conv3d_0c_1x1"


def _scaled(width: int, scale: float) -> int:
  return max(1, round(width * scale))


class Mixed(nnx.Module):
  """An inception block: 1x1 | 1x1 -> 3x3x3 | 1x1 -> 3x3x3 | 3x3x3 max pool -> 1x1."""

  def __init__(self, in_features: int, widths, *, rngs: nnx.Rngs):
    b0, b1a, b1b, b2a, b2b, b3 = widths
    self.branch_0 = Unit3D(in_features, b0, rngs=rngs)
    self.branch_1a = Unit3D(in_features, b1a, rngs=rngs)
    self.branch_1b = Unit3D(b1a, b1b, (3, 3, 3), rngs=rngs)
    self.branch_2a = Unit3D(in_features, b2a, rngs=rngs)
    self.branch_2b = Unit3D(b2a, b2b, (3, 3, 3), rngs=rngs)
    self.branch_3 = Unit3D(in_features, b3, rngs=rngs)
    self.features = b0 + b1b + b2b + b3

  def __call__(self, x):
    return jnp.concatenate([
        self.branch_0(x), self.branch_1b(self.branch_1a(x)),
        self.branch_2b(self.branch_2a(x)),
        self.branch_3(max_pool_same(x, (3, 3, 3), (1, 1, 1)))], axis=-1)


class I3D(nnx.Module):
  """(B, T, 224, 224, 3) in [-1, 1] -> {"logits": (B, classes), "features": (B, 1024)}."""

  def __init__(self, num_classes: int = 400, *, width_scale: float = 1.0, rngs: nnx.Rngs):
    self.num_classes, self.width_scale = num_classes, width_scale
    c64, c192 = _scaled(64, width_scale), _scaled(192, width_scale)
    self.stem = nnx.List([
        Unit3D(3, c64, (7, 7, 7), (2, 2, 2), rngs=rngs),  # Conv3d_1a_7x7
        Unit3D(c64, c64, rngs=rngs),  # Conv3d_2b_1x1
        Unit3D(c64, c192, (3, 3, 3), rngs=rngs),  # Conv3d_2c_3x3
    ])
    blocks, features = [], c192
    for widths in MIXED.values():
      blocks.append(Mixed(features, [_scaled(w, width_scale) for w in widths], rngs=rngs))
      features = blocks[-1].features
    self.mixed = nnx.List(blocks)
    self.logits = Unit3D(features, num_classes, norm_and_relu=False, rngs=rngs)

  def units(self) -> list[tuple[str, Unit3D]]:
    """Every layer with weights and its DeepMind name, input to output."""
    out = list(zip(STEM, self.stem))
    for block_name, block in zip(MIXED, self.mixed):
      out += [(f"{block_name}/{name}", getattr(block, attr)) for name, attr in BRANCHES]
    return out + [(LOGITS, self.logits)]

  def endpoints(self, video, last: str = "Mixed_5c") -> dict:
    """{endpoint: activation} of DeepMind's endpoints (Conv3d_1a_7x7, MaxPool3d_2a_3x3, ...,
    Mixed_5c) up to ``last``."""
    conv1a, conv2b, conv2c = self.stem
    layers = [("Conv3d_1a_7x7", conv1a),
              ("MaxPool3d_2a_3x3", lambda x: max_pool_same(x, (1, 3, 3), (1, 2, 2))),
              ("Conv3d_2b_1x1", conv2b), ("Conv3d_2c_3x3", conv2c),
              ("MaxPool3d_3a_3x3", lambda x: max_pool_same(x, (1, 3, 3), (1, 2, 2)))]
    for name, block in zip(MIXED, self.mixed):
      if name == "Mixed_4b":
        layers.append(("MaxPool3d_4a_3x3", lambda x: max_pool_same(x, (3, 3, 3), (2, 2, 2))))
      elif name == "Mixed_5b":
        layers.append(("MaxPool3d_5a_2x2", lambda x: max_pool_same(x, (2, 2, 2), (2, 2, 2))))
      layers.append((name, block))
    if last not in dict(layers):
      raise ValueError(f"unknown endpoint {last!r}; one of {[n for n, _ in layers]}")
    out, x = {}, video
    for name, layer in layers:
      x = out[name] = layer(x)
      if name == last:
        break
    return out

  def __call__(self, video):
    x = self.endpoints(video)["Mixed_5c"]
    if x.shape[1] < 2 or x.shape[2] < 7 or x.shape[3] < 7:
      raise ValueError(f"I3D needs clips of at least 9 frames of 193x193 (224x224 in the FVD "
                       f"protocol); got {video.shape[1]} frames of {video.shape[2:4]}")
    # AvgPool 2x7x7, stride 1, VALID (the reference head), then the 1x1 logits conv.
    pooled = jax.lax.reduce_window(x, 0.0, jax.lax.add, (1, 2, 7, 7, 1), (1, 1, 1, 1, 1),
                                   "VALID") / (2 * 7 * 7)
    logits = self.logits(pooled)  # (B, T', 1, 1, classes)
    return {"logits": jnp.mean(logits, axis=(1, 2, 3)),
            "features": jnp.mean(pooled, axis=(1, 2, 3))}
