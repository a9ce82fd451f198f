"""piergiaj/pytorch-i3d's InceptionI3d, as the FVD code that loads i3d_pretrained_400.pt
has it (same module names, so the same state-dict keys; TF SAME padding computed per
input; max pools padded with zeros). BatchNorm epsilon 1e-3 as DeepMind's network."""

import math

import torch
import torch.nn.functional as F
from torch import nn

_MIXED = {
    "Mixed_3b": (64, 96, 128, 16, 32, 32), "Mixed_3c": (128, 128, 192, 32, 96, 64),
    "Mixed_4b": (192, 96, 208, 16, 48, 64), "Mixed_4c": (160, 112, 224, 24, 64, 64),
    "Mixed_4d": (128, 128, 256, 24, 64, 64), "Mixed_4e": (112, 144, 288, 32, 64, 64),
    "Mixed_4f": (256, 160, 320, 32, 128, 128), "Mixed_5b": (256, 160, 320, 32, 128, 128),
    "Mixed_5c": (384, 192, 384, 48, 128, 128),
}


def _same_pad(x, kernel, stride):
  pads = []
  for size, k, s in zip(x.shape[2:], kernel, stride):
    total = max(k - s, 0) if size % s == 0 else max(k - size % s, 0)
    pads.append((total // 2, total - total // 2))
  flat = [p for pair in reversed(pads) for p in pair]  # F.pad: last dimension first
  return F.pad(x, flat)


class MaxPool3dSamePadding(nn.MaxPool3d):

  def forward(self, x):
    return super().forward(_same_pad(x, self.kernel_size, self.stride))


class Unit3D(nn.Module):

  def __init__(self, in_channels, out_channels, kernel=(1, 1, 1), stride=(1, 1, 1),
               activation=True, use_bn=True, use_bias=False):
    super().__init__()
    self.kernel, self.stride, self.activation = kernel, stride, activation
    self.conv3d = nn.Conv3d(in_channels, out_channels, kernel, stride, padding=0,
                            bias=use_bias)
    self.bn = nn.BatchNorm3d(out_channels, eps=1e-3, momentum=0.01) if use_bn else None

  def forward(self, x):
    x = self.conv3d(_same_pad(x, self.kernel, self.stride))
    if self.bn is not None:
      x = self.bn(x)
    return F.relu(x) if self.activation else x


class InceptionModule(nn.Module):

  def __init__(self, in_channels, widths):
    super().__init__()
    b0, b1a, b1b, b2a, b2b, b3 = widths
    self.b0 = Unit3D(in_channels, b0)
    self.b1a = Unit3D(in_channels, b1a)
    self.b1b = Unit3D(b1a, b1b, (3, 3, 3))
    self.b2a = Unit3D(in_channels, b2a)
    self.b2b = Unit3D(b2a, b2b, (3, 3, 3))
    self.b3a = MaxPool3dSamePadding((3, 3, 3), (1, 1, 1))
    self.b3b = Unit3D(in_channels, b3)

  def forward(self, x):
    return torch.cat([self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)),
                      self.b3b(self.b3a(x))], dim=1)


class InceptionI3d(nn.Module):
  """(B, 3, T, H, W) -> endpoints; ``forward`` gives the time-averaged logits."""

  def __init__(self, num_classes=400):
    super().__init__()
    self.order = []

    def add(name, module):
      self.add_module(name, module)
      self.order.append(name)

    add("Conv3d_1a_7x7", Unit3D(3, 64, (7, 7, 7), (2, 2, 2)))
    add("MaxPool3d_2a_3x3", MaxPool3dSamePadding((1, 3, 3), (1, 2, 2)))
    add("Conv3d_2b_1x1", Unit3D(64, 64))
    add("Conv3d_2c_3x3", Unit3D(64, 192, (3, 3, 3)))
    add("MaxPool3d_3a_3x3", MaxPool3dSamePadding((1, 3, 3), (1, 2, 2)))
    channels = 192
    for name, widths in _MIXED.items():
      if name == "Mixed_4b":
        add("MaxPool3d_4a_3x3", MaxPool3dSamePadding((3, 3, 3), (2, 2, 2)))
      elif name == "Mixed_5b":
        add("MaxPool3d_5a_2x2", MaxPool3dSamePadding((2, 2, 2), (2, 2, 2)))
      add(name, InceptionModule(channels, widths))
      channels = widths[0] + widths[2] + widths[4] + widths[5]
    self.avg_pool = nn.AvgPool3d((2, 7, 7), (1, 1, 1))
    self.logits = Unit3D(channels, num_classes, activation=False, use_bn=False, use_bias=True)

  def endpoints(self, x, last):
    out = {}
    for name in self.order:
      x = out[name] = getattr(self, name)(x)
      if name == last:
        break
    return out

  def forward(self, x):
    x = self.endpoints(x, "Mixed_5c")["Mixed_5c"]
    return self.logits(self.avg_pool(x)).squeeze(3).squeeze(3).mean(dim=2)


def randomize(model: nn.Module, seed: int = 0):
  """Random weights and BatchNorm statistics of plausible scale (fan-in normal kernels)."""
  g = torch.Generator().manual_seed(seed)
  with torch.no_grad():
    for name, p in model.state_dict().items():
      if name.endswith("num_batches_tracked"):
        continue
      if name.endswith("conv3d.weight"):
        fan_in = math.prod(p.shape[1:])
        p.copy_(torch.randn(p.shape, generator=g) * math.sqrt(2.0 / fan_in))
      elif name.endswith("running_var"):
        p.copy_(torch.rand(p.shape, generator=g) * 1.5 + 0.5)
      elif name.endswith("bn.weight"):
        p.copy_(torch.rand(p.shape, generator=g) + 0.5)
      else:
        p.copy_(torch.randn(p.shape, generator=g) * 0.1)
  return model.eval()
