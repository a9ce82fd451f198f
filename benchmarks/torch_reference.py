"""A PyTorch reference of one training iteration of a level (issue 7), for timing only.

The same networks and the same iteration as hvg_jax, written the way a PyTorch
implementation would be (the papers' was PyTorch): ``d_steps`` D updates and one G update
with the hinge loss and Adam, the optional EMA of G, and, for an upsampling level, the
frozen levels below generating the windows of x^{l-1} in sampling mode (standing BatchNorm
statistics, frozen spectral norm, no gradient). Module and attribute names mirror
hvg_jax.layers / hvg_jax.models so that :func:`load_from_flax` copies a Flax model's
weights into the torch one (tests/test_torch_reference.py checks they compute the same).

Layout: videos are (B, T, C, H, W), channels first as PyTorch's convolutions expect, with
frames ahead of channels so that the per-frame 2D convolutions (nearly all of the
compute) are free views as (B*T, C, H, W) batches of images; the 3D convolutions (D's 3D
blocks, G's temporal convolutions) run on the (B, C, T, H, W) transpose. With
``channels_last`` storage (torch_level2.py --memory_format=channels_last) the same
logical tensors are stored as (B, T, H, W, C), hvg_jax's layout: the 2D views are then
NHWC and the 3D transposes NDHWC without a copy, the layout tensor cores prefer.

Mixed precision is torch.autocast (bfloat16 convolutions and matmuls, float32 weights,
BatchNorm statistics and losses in float32, as hvg_jax's ``model.dtype``). Not ported:
rematerialisation (``model.remat``; torch.utils.checkpoint would rerun the power
iteration in the recomputation) and data-parallel sharding (one device).
"""

import copy
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hvg_jax import config_lib
from hvg_jax.resolution import discriminator_downsampling, generator_upsampling

_EPS = 1e-12


def _l2_normalize(x):
  return x * torch.rsqrt(torch.clamp(torch.sum(x * x), min=_EPS * _EPS))


def _orthogonal(shape):
  """hvg_jax's init: an orthogonal (prod(shape[:-1]), shape[-1]) matrix, in Flax's layout."""
  m = torch.empty(math.prod(shape[:-1]), shape[-1])
  nn.init.orthogonal_(m)
  return m.reshape(shape)


# --------------------------------------------------------------------------- layers


class SpectralNormalized(nn.Module):
  """W / sigma(W) with one power iteration per training call (Miyato et al.'s Algorithm 1,
  as ``torch.nn.utils.spectral_norm``); u and v are buffers.

  ``weight`` is in torch's layout with the output axis first; the power iteration runs on
  the (out, rest) matrix with ``rest`` in hvg_jax's order (``to_flax``), so v, which lives
  in the ``rest`` space, is hvg_jax's v as it is.
  """
  n_power_iterations = 1

  def __init__(self, flax_shape):
    super().__init__()
    kernel = _orthogonal(tuple(flax_shape))
    self.weight = nn.Parameter(self.from_flax(kernel))
    u = _l2_normalize(torch.randn(flax_shape[-1]))
    self.register_buffer("u", u)
    self.register_buffer("v", _l2_normalize(kernel.reshape(-1, flax_shape[-1]) @ u))

  @staticmethod
  def from_flax(kernel):
    raise NotImplementedError

  @staticmethod
  def to_flax(weight):
    raise NotImplementedError

  def matrix(self, w):
    """(out, rest), ``rest`` in hvg_jax's order."""
    flax = self.to_flax(w)
    return flax.reshape(-1, flax.shape[-1]).t()

  def normalized_weight(self):
    w = self.weight
    mat = self.matrix(w)
    u, v = self.u, self.v
    if self.training:  # sampling mode (eval) reuses the stored u and v
      with torch.no_grad():
        for _ in range(self.n_power_iterations):
          v = _l2_normalize(mat.t() @ u)
          u = _l2_normalize(mat @ v)
        self.u.copy_(u)
        self.v.copy_(v)
    sigma = u @ (mat @ v)  # d sigma / dW = u v^T, u and v constants
    return w / torch.where(sigma > 0, sigma, torch.ones_like(sigma))

  def load_flax(self, module):
    kernel = torch.as_tensor(_np(module.kernel[...]))
    _copy(self.weight, self.from_flax(kernel), module)
    _copy(self.u, torch.as_tensor(_np(module.u[...])), module)
    _copy(self.v, torch.as_tensor(_np(module.v[...])), module)
    bias = getattr(module, "bias", None)
    if (bias is None) != (getattr(self, "bias", None) is None):
      raise ValueError(f"{type(self).__name__} and {type(module).__name__} disagree on a bias")
    if bias is not None:
      _copy(self.bias, torch.as_tensor(_np(bias[...])), module)


class SNLinear(SpectralNormalized):
  """hvg_jax SNDense: Flax kernel (in, out) -> torch (out, in)."""

  def __init__(self, in_features, out_features, bias=True):
    super().__init__((in_features, out_features))
    self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None

  @staticmethod
  def from_flax(kernel):
    return kernel.t()

  @staticmethod
  def to_flax(weight):
    return weight.t()

  def forward(self, x):
    return F.linear(x, self.normalized_weight(), self.bias)


class SNConv2d(SpectralNormalized):
  """hvg_jax SNConv with a 2D window, on every frame: (..., C, H, W), 'SAME' padding."""

  def __init__(self, in_features, out_features, kernel_size, bias=True):
    super().__init__((kernel_size, kernel_size, in_features, out_features))
    self.padding = kernel_size // 2
    self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None

  @staticmethod
  def from_flax(kernel):  # (kh, kw, in, out) -> (out, in, kh, kw)
    return kernel.permute(3, 2, 0, 1)

  @staticmethod
  def to_flax(weight):  # (out, in, kh, kw) -> (kh, kw, in, out)
    return weight.permute(2, 3, 1, 0)

  def forward(self, x):
    lead = x.shape[:-3]
    y = F.conv2d(x.reshape((-1,) + x.shape[-3:]), self.normalized_weight(), self.bias,
                 padding=self.padding)
    return y.reshape(lead + y.shape[1:])


class SNConv3d(SpectralNormalized):
  """hvg_jax SNConv with a 3D (T, H, W) window on (B, T, C, H, W), 'SAME' padding."""

  def __init__(self, in_features, out_features, kernel_size, bias=True):
    super().__init__(tuple(kernel_size) + (in_features, out_features))
    self.padding = tuple(k // 2 for k in kernel_size)
    self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None

  @staticmethod
  def from_flax(kernel):  # (kt, kh, kw, in, out) -> (out, in, kt, kh, kw)
    return kernel.permute(4, 3, 0, 1, 2)

  @staticmethod
  def to_flax(weight):  # (out, in, kt, kh, kw) -> (kt, kh, kw, in, out)
    return weight.permute(2, 3, 4, 1, 0)

  def forward(self, x):
    y = F.conv3d(x.transpose(1, 2), self.normalized_weight(), self.bias, padding=self.padding)
    return y.transpose(1, 2)


class SNEmbed(SpectralNormalized):
  """hvg_jax SNEmbed: (num_embeddings, features), u over the features."""

  def __init__(self, num_embeddings, features):
    super().__init__((num_embeddings, features))
    self.bias = None

  @staticmethod
  def from_flax(kernel):
    return kernel

  @staticmethod
  def to_flax(weight):
    return weight

  def forward(self, labels):
    return self.normalized_weight()[labels]


class SeparableConv3D(nn.Module):
  """Temporal (3, 1, 1) convolution without bias, then a 3x3 spatial one."""

  def __init__(self, in_features, features, temporal_kernel=3, bias=True):
    super().__init__()
    self.temporal = SNConv3d(in_features, features, (temporal_kernel, 1, 1), bias=False)
    self.spatial = SNConv2d(features, features, 3, bias=bias)

  def forward(self, x):
    return self.spatial(self.temporal(x))


def _frames(x):
  """(B, T, C, H, W) -> ((B*T, C, H, W), undo)."""
  b, t = x.shape[:2]
  return x.flatten(0, 1), lambda y: y.unflatten(0, (b, t))


def _conv2d_frames(x, weight, bias=None):
  y, back = _frames(x)
  return back(F.conv2d(y, weight, bias, padding=weight.shape[-1] // 2))


def upsample_nearest_2x(x):
  y, back = _frames(x)
  return back(F.interpolate(y, scale_factor=2, mode="nearest"))


def avg_pool_2x(x, time=False):
  if not time:
    y, back = _frames(x)
    return back(F.avg_pool2d(y, 2))
  if x.shape[1] % 2:
    raise ValueError(f"cannot halve {x.shape[1]} frames in time: the discriminator's "
                     "temporal downsampling needs an even number of frames")
  return F.avg_pool3d(x.transpose(1, 2), 2).transpose(1, 2)


class FrameBatchNorm(nn.Module):
  """Per-frame BatchNorm: statistics over (B, H, W) for every (timestep, channel).

  Conditional (gain = 1 + W_g c, offset = W_b c, spectrally normalised, float32 as in
  hvg_jax) or with a plain affine. ``training``: batch statistics; eval: the standing
  per-timestep statistics, from frame ``frame_offsets[i]`` on for sample i when set (an
  upsampler run on per-sample chunks of a longer video, chain/generate.py).
  """

  def __init__(self, features, num_frames, cond_features=None, eps=1e-5):
    super().__init__()
    self.eps = eps
    if cond_features:
      self.gain = SNLinear(cond_features, features, bias=False)
      self.offset = SNLinear(cond_features, features, bias=False)
      self.scale = self.bias = None
    else:
      self.gain = self.offset = None
      self.scale = nn.Parameter(torch.ones(features))
      self.bias = nn.Parameter(torch.zeros(features))
    self.register_buffer("mean", torch.zeros(num_frames, features))
    self.register_buffer("var", torch.ones(num_frames, features))
    self.frame_offsets = None

  def forward(self, x, cond=None):
    x32 = x.float()
    t = x.shape[1]
    if self.training:
      mean = x32.mean(dim=(0, 3, 4))
      var = (x32 - mean[None, :, :, None, None]).square().mean(dim=(0, 3, 4))
      mean, var = mean[None, :, :, None, None], var[None, :, :, None, None]
    elif self.frame_offsets is not None:
      idx = self.frame_offsets[:, None] + torch.arange(t, device=x.device)
      mean, var = self.mean[idx][..., None, None], self.var[idx][..., None, None]
    else:
      if self.mean.shape[0] != t:
        raise ValueError(f"standing statistics hold {self.mean.shape[0]} timesteps but the "
                         f"input has {t} frames")
      mean, var = self.mean[None, :, :, None, None], self.var[None, :, :, None, None]
    y = (x32 - mean) * torch.rsqrt(var + self.eps)
    if self.gain is not None:
      if cond is None:
        raise ValueError("conditional FrameBatchNorm needs a condition vector")
      with torch.autocast(x.device.type, enabled=False):  # hvg_jax: float32 Dense layers
        gain = 1.0 + self.gain(cond.float())
        offset = self.offset(cond.float())
      y = y * gain[:, None, :, None, None] + offset[:, None, :, None, None]
    else:
      y = y * self.scale[:, None, None] + self.bias[:, None, None]
    return y.to(x.dtype)

  def load_flax(self, module):
    for name in ("mean", "var"):  # the Flax statistics may be sized for another length
      setattr(self, name, torch.as_tensor(_np(getattr(module, name)[...])).to(
          getattr(self, name).device))
    if self.scale is not None:
      _copy(self.scale, torch.as_tensor(_np(module.scale[...])), module)
      _copy(self.bias, torch.as_tensor(_np(module.bias[...])), module)


class GBlock(nn.Module):
  def __init__(self, in_features, features, *, cond_features, num_frames, upsample,
               temporal=False, output_bias=True):
    super().__init__()
    self.upsample = upsample
    self.bn1 = FrameBatchNorm(in_features, num_frames, cond_features)
    self.bn2 = FrameBatchNorm(features, num_frames, cond_features)
    if temporal:
      self.conv1 = SeparableConv3D(in_features, features, bias=False)
      self.conv2 = SeparableConv3D(features, features, bias=output_bias)
    else:
      self.conv1 = SNConv2d(in_features, features, 3, bias=False)
      self.conv2 = SNConv2d(features, features, 3, bias=output_bias)
    self.shortcut = (SNConv2d(in_features, features, 1, bias=output_bias)
                     if in_features != features or upsample else None)

  def forward(self, x, cond):
    h = F.relu(self.bn1(x, cond))
    if self.upsample:
      h = upsample_nearest_2x(h)
      x = upsample_nearest_2x(x)
    h = self.conv1(h)
    h = self.conv2(F.relu(self.bn2(h, cond)))
    if self.shortcut is not None:
      x = self.shortcut(x)
    return x + h


class DBlock(nn.Module):
  def __init__(self, in_features, features, *, downsample, preactivation=True,
               three_d=False, temporal_downsample=False):
    super().__init__()
    self.downsample = downsample
    self.preactivation = preactivation
    self.temporal_downsample = temporal_downsample and three_d and downsample
    if three_d:
      self.conv1 = SNConv3d(in_features, features, (3, 3, 3))
      self.conv2 = SNConv3d(features, features, (3, 3, 3))
    else:
      self.conv1 = SNConv2d(in_features, features, 3)
      self.conv2 = SNConv2d(features, features, 3)
    self.shortcut = (SNConv2d(in_features, features, 1)
                     if in_features != features or downsample else None)

  def forward(self, x):
    h = F.relu(x) if self.preactivation else x
    h = self.conv2(F.relu(self.conv1(h)))
    if self.shortcut is not None:
      x = self.shortcut(x)
    if self.downsample:
      h = avg_pool_2x(h, self.temporal_downsample)
      x = avg_pool_2x(x, self.temporal_downsample)
    return x + h


class ConvGRU(nn.Module):
  """DVD-GAN's ConvGRU, as hvg_jax's: the x halves of the three kernels run over every
  frame at once, the h-dependent convolutions step by step."""

  def __init__(self, in_features, features):
    super().__init__()
    self.in_features, self.features = in_features, features
    both = in_features + features
    self.reset_gate = SNConv2d(both, features, 3)  # over [h; x]
    self.update_gate = SNConv2d(both, features, 3)  # over [h; x]
    self.candidate = SNConv2d(both, features, 3)  # over [x; r.h]

  def forward(self, x):
    f, n_in = self.features, self.in_features
    w_r = self.reset_gate.normalized_weight()
    w_u = self.update_gate.normalized_weight()
    w_c = self.candidate.normalized_weight()
    w_x = torch.cat([w_r[:, f:], w_u[:, f:], w_c[:, :n_in]])
    b_x = torch.cat([self.reset_gate.bias, self.update_gate.bias, self.candidate.bias])
    w_h_gates = torch.cat([w_r[:, :f], w_u[:, :f]])
    w_h_cand = w_c[:, n_in:]
    x_parts = _conv2d_frames(x, w_x, b_x)  # (B, T, 3f, H, W), all frames at once
    h = x_parts.new_zeros(x.shape[:1] + (f,) + x.shape[3:])
    hs = []
    for t in range(x.shape[1]):
      xt = x_parts[:, t]
      gates = torch.sigmoid(xt[:, :2 * f] + F.conv2d(h, w_h_gates, padding=1))
      r, u = gates[:, :f], gates[:, f:]
      c = F.relu(xt[:, 2 * f:] + F.conv2d(r * h, w_h_cand, padding=1))
      h = u * h + (1.0 - u) * c
      hs.append(h)
    return torch.stack(hs, 1)


class ProjectionHead(nn.Module):
  def __init__(self, features, num_classes=0):
    super().__init__()
    self.linear = SNLinear(features, 1)
    self.embed = SNEmbed(num_classes, features) if num_classes else None

  def forward(self, x, labels=None):
    h = F.relu(x).sum(dim=(3, 4)).float()  # (B, T, C)
    score = self.linear(h)[..., 0].float()
    if self.embed is not None:
      if labels is None:
        raise ValueError("a class-conditional discriminator needs labels")
      score = score + (self.embed(labels).float()[:, None] * h).sum(-1)
    return score


# --------------------------------------------------------------------------- video ops


def subsample_frames(video, factor):
  return video[:, ::factor]


def downsample_frames(video, size):
  """f_s: k x k block averages, as video_ops.downsample_frames."""
  if video.shape[-1] == size and video.shape[-2] == size:
    return video
  y, back = _frames(video)
  return back(F.avg_pool2d(y, video.shape[-1] // size))


def downsample_video(video, frame_factor, size):
  return downsample_frames(subsample_frames(video, frame_factor), size)


def repeat_frames(video, factor):
  return video.repeat_interleave(factor, dim=1)


def downsample_nearest(video, size):
  height = video.shape[-2]
  if height == size:
    return video
  if height % size:
    raise ValueError(f"cannot nearest-downsample {height} px to {size} px: not a divisor")
  factor = height // size
  start = factor // 2
  return video[..., start::factor, start::factor]


def to_float(video):
  """uint8 [0, 255] -> float32 [-1, 1]."""
  return video.float() / 127.5 - 1.0


# --------------------------------------------------------------------------- models


class LatentStem(nn.Module):
  def __init__(self, *, z_dim, num_classes, embed_dim, features):
    super().__init__()
    self.z_dim, self.features = z_dim, features
    self.embed = nn.Embedding(num_classes, embed_dim) if num_classes else None
    if self.embed is not None:
      nn.init.orthogonal_(self.embed.weight)
    self.cond_features = z_dim + (embed_dim if num_classes else 0)
    # Output unit c*16 + h*4 + w (torch's view to (F, 4, 4)); hvg_jax's is (h*4 + w)*F + c.
    self.linear = SNLinear(self.cond_features, 16 * features)

  def forward(self, z, labels, num_frames):
    if z.shape[-1] != self.z_dim:
      raise ValueError(f"z has {z.shape[-1]} dimensions, the generator expects {self.z_dim}")
    cond = z.float()
    if self.embed is not None:
      if labels is None:
        raise ValueError("this generator is class-conditional: pass labels")
      cond = torch.cat([cond, self.embed(labels).float()], dim=-1)
    h = self.linear(cond).view(z.shape[0], 1, self.features, 4, 4)
    return cond, h.expand(z.shape[0], num_frames, self.features, 4, 4)

  def load_flax(self, module):
    if self.embed is not None:
      _copy(self.embed.weight, torch.as_tensor(_np(module.embed.embedding[...])), module)
    f = self.features
    # Flax output o = (h*4 + w)*F + c  ->  torch output c*16 + h*4 + w.
    perm = torch.arange(16 * f).reshape(16, f).t().reshape(-1)
    kernel = torch.as_tensor(_np(module.linear.kernel[...]))
    _copy(self.linear.weight, kernel.t()[perm], module.linear)
    _copy(self.linear.u, torch.as_tensor(_np(module.linear.u[...]))[perm], module.linear)
    _copy(self.linear.v, torch.as_tensor(_np(module.linear.v[...])), module.linear)
    _copy(self.linear.bias, torch.as_tensor(_np(module.linear.bias[...]))[perm], module.linear)


class RGBHead(nn.Module):
  def __init__(self, features, num_frames):
    super().__init__()
    self.bn = FrameBatchNorm(features, num_frames)
    self.conv = SNConv2d(features, 3, 3)

  def forward(self, x):
    return torch.tanh(self.conv(F.relu(self.bn(x))).float())


class Level1Unit(nn.Module):
  def __init__(self, in_features, features, *, upsample, cond_features, num_frames, last):
    super().__init__()
    self.gru = ConvGRU(in_features, features)
    block = dict(cond_features=cond_features, num_frames=num_frames, output_bias=not last)
    self.block1 = GBlock(features, features, upsample=upsample, **block)
    self.block2 = GBlock(features, features, upsample=False, **block)

  def forward(self, x, cond):
    return self.block2(self.block1(self.gru(x), cond), cond)


class Level1Generator(nn.Module):
  upsampling = False

  def __init__(self, *, resolution, num_frames, ch, mults, z_dim, num_classes, embed_dim,
               keep_unit="last"):
    super().__init__()
    self.resolution, self.num_frames = resolution, num_frames
    widths = [ch * m for m in mults]
    self.stem = LatentStem(z_dim=z_dim, num_classes=num_classes, embed_dim=embed_dim,
                           features=widths[0])
    ups = generator_upsampling(len(widths), resolution, keep_unit)
    self.units = nn.ModuleList([
        Level1Unit(w_in, w, upsample=up, cond_features=self.stem.cond_features,
                   num_frames=num_frames, last=i == len(widths) - 1)
        for i, (w_in, w, up) in enumerate(zip([widths[0]] + widths[:-1], widths, ups))])
    self.head = RGBHead(widths[-1], num_frames)

  def forward(self, z, labels=None, num_frames=None):
    cond, h = self.stem(z, labels, num_frames or self.num_frames)
    for unit in self.units:
      h = unit(h, cond)
    return self.head(h)


class UpsamplingUnit(nn.Module):
  def __init__(self, in_features, features, *, resolution_in, input_resolution, upsample,
               cond_features, num_frames):
    super().__init__()
    block = dict(cond_features=cond_features, num_frames=num_frames, output_bias=False)
    self.blocks = nn.ModuleList([
        GBlock(in_features, features, upsample=False, temporal=True, **block),
        GBlock(features, features, upsample=upsample, **block),
        GBlock(features, features, upsample=False, **block),
    ])
    resolution_out = resolution_in * (2 if upsample else 1)
    self.block_resolutions = (resolution_in, resolution_out, resolution_out)
    self.residuals = nn.ModuleList([
        SNConv2d(3, features, 1, bias=False) if r <= input_resolution else nn.Identity()
        for r in self.block_resolutions])
    self.has_residual = [r <= input_resolution for r in self.block_resolutions]

  def forward(self, h, cond, video_low):
    for block, residual, has, size in zip(self.blocks, self.residuals, self.has_residual,
                                          self.block_resolutions):
      h = block(h, cond)
      if has:
        h = h + residual(downsample_nearest(video_low, size))
    return h


class UpsamplingGenerator(nn.Module):
  upsampling = True

  def __init__(self, *, resolution, input_resolution, time_factor, num_frames, ch, mults,
               z_dim, num_classes, embed_dim):
    super().__init__()
    self.resolution, self.input_resolution = resolution, input_resolution
    self.time_factor, self.num_frames = time_factor, num_frames
    widths = [ch * m for m in mults]
    self.stem = LatentStem(z_dim=z_dim, num_classes=num_classes, embed_dim=embed_dim,
                           features=widths[0])
    ups = generator_upsampling(len(widths), resolution, keep_unit=None)
    units, r = [], 4
    for w_in, w, up in zip([widths[0]] + widths[:-1], widths, ups):
      units.append(UpsamplingUnit(
          w_in, w, resolution_in=r, input_resolution=input_resolution, upsample=up,
          cond_features=self.stem.cond_features, num_frames=num_frames))
      r = r * 2 if up else r
    self.units = nn.ModuleList(units)
    self.head = RGBHead(widths[-1], num_frames)

  def forward(self, z, video_low, labels=None):
    if video_low.shape[2:] != (3, self.input_resolution, self.input_resolution):
      raise ValueError(f"the low-resolution input must be (B, T, 3, {self.input_resolution},"
                       f" {self.input_resolution}), got {tuple(video_low.shape)}")
    video_low = repeat_frames(video_low, self.time_factor)
    cond, h = self.stem(z, labels, video_low.shape[1])
    for unit in self.units:
      h = unit(h, cond, video_low)
    return self.head(h)


class VideoDiscriminator(nn.Module):
  def __init__(self, *, resolution, ch, mults, in_features=3, num_3d_blocks=0,
               num_classes=0, temporal_downsample=False):
    super().__init__()
    self.resolution, self.in_features = resolution, in_features
    widths = [ch * m for m in mults]
    downs = discriminator_downsampling(len(widths), resolution)
    self.blocks = nn.ModuleList([
        DBlock(w_in, w, downsample=down, preactivation=i > 0, three_d=i < num_3d_blocks,
               temporal_downsample=temporal_downsample)
        for i, (w_in, w, down) in enumerate(zip([in_features] + widths[:-1], widths, downs))])
    self.head = ProjectionHead(widths[-1], num_classes=num_classes)

  def forward(self, video, labels=None):
    expected = (self.in_features, self.resolution, self.resolution)
    if video.ndim != 5 or tuple(video.shape[2:]) != expected:
      raise ValueError(f"discriminator input must be (B, T, {expected[0]}, {expected[1]}, "
                       f"{expected[2]}), got {tuple(video.shape)}")
    h = video
    for block in self.blocks:
      h = block(h)
    return self.head(h, labels)


def select_frames(video, idx):
  """video[i, idx[i]] for every i: (B, k, C, H, W)."""
  return video[torch.arange(video.shape[0], device=video.device)[:, None], idx]


def random_frames(batch, frames, k, device):
  """k distinct frame indices per video, uniform (hvg_jax: argsort of uniforms)."""
  return torch.rand(batch, frames, device=device).argsort(dim=1)[:, :min(k, frames)]


class SpatialDiscriminator(nn.Module):
  def __init__(self, *, resolution, ch, mults, num_classes=0, k=8):
    super().__init__()
    self.k = k
    self.net = VideoDiscriminator(resolution=resolution, ch=ch, mults=mults,
                                  num_classes=num_classes)

  def forward(self, video, labels=None, idx=None):
    if idx is None:
      idx = random_frames(video.shape[0], video.shape[1], self.k, video.device)
    return self.net(select_frames(video, idx), labels)


class TemporalDiscriminator(nn.Module):
  def __init__(self, *, resolution, ch, mults, num_classes=0, num_3d_blocks=2,
               temporal_downsample=False):
    super().__init__()
    self.net = VideoDiscriminator(resolution=resolution // 2, ch=ch, mults=mults,
                                  num_3d_blocks=num_3d_blocks, num_classes=num_classes,
                                  temporal_downsample=temporal_downsample)

  def forward(self, video, labels=None):
    return self.net(avg_pool_2x(video), labels)


class MatchingDiscriminator(nn.Module):
  def __init__(self, *, input_resolution, time_factor, ch, mults, num_classes=0,
               num_3d_blocks=2, pool=False, temporal_downsample=False):
    super().__init__()
    self.input_resolution, self.time_factor, self.pool = input_resolution, time_factor, pool
    self.net = VideoDiscriminator(
        resolution=input_resolution // 2 if pool else input_resolution, ch=ch, mults=mults,
        in_features=6, num_3d_blocks=num_3d_blocks, num_classes=num_classes,
        temporal_downsample=temporal_downsample)

  def forward(self, video, video_low, labels=None):
    down = downsample_video(video, self.time_factor, self.input_resolution)
    if down.shape != video_low.shape:
      raise ValueError(f"matching pair does not line up: f_s(f_t(x^l)) has shape "
                       f"{tuple(down.shape)}, x^(l-1) has {tuple(video_low.shape)}")
    pair = torch.cat([video_low.to(down.dtype), down], dim=2)
    return self.net(avg_pool_2x(pair) if self.pool else pair, labels)


class Discriminators(nn.Module):
  def __init__(self, spatial, temporal, matching=None):
    super().__init__()
    self.spatial, self.temporal, self.matching = spatial, temporal, matching

  def forward(self, video, labels=None, video_low=None, spatial_idx=None):
    scores = {"spatial": self.spatial(video, labels, spatial_idx),
              "temporal": self.temporal(video, labels)}
    if self.matching is not None:
      if video_low is None:
        raise ValueError("the matching discriminator needs the low-resolution input video")
      scores["matching"] = self.matching(video, video_low, labels)
    return scores


def _check_portable(config):
  if config.model.remat:
    raise ValueError(f"{config.name}: config.model.remat is not ported to the PyTorch "
                     "reference (torch.utils.checkpoint would rerun spectral norm's power "
                     "iteration in the recomputation); set it False to compare")


def build_generator(config):
  """G of a level config, as hvg_jax.models.build_generator."""
  _check_portable(config)
  shapes = config_lib.level_shapes(config)
  g = config.model.g
  common = dict(resolution=shapes.resolution, num_frames=shapes.train_frames, ch=g.ch,
                mults=tuple(g.mults), z_dim=g.z_dim, num_classes=shapes.num_classes,
                embed_dim=g.embed_dim)
  if not shapes.upsampling:
    return Level1Generator(keep_unit=g.keep_unit, **common)
  return UpsamplingGenerator(input_resolution=shapes.input_resolution,
                             time_factor=shapes.time_factor, **common)


def build_discriminators(config):
  """D_S, D_T (and D_M), as hvg_jax.models.build_discriminators."""
  _check_portable(config)
  shapes = config_lib.level_shapes(config)
  d = config.model.d
  common = dict(ch=d.ch, mults=tuple(d.mults), num_classes=shapes.num_classes)
  spatial = SpatialDiscriminator(resolution=shapes.resolution, k=d.spatial_frames, **common)
  temporal = TemporalDiscriminator(resolution=shapes.resolution,
                                   num_3d_blocks=d.temporal_3d_blocks,
                                   temporal_downsample=d.temporal_downsample, **common)
  matching = None
  if shapes.upsampling and config.model.matching:
    matching = MatchingDiscriminator(
        input_resolution=shapes.input_resolution, time_factor=shapes.time_factor,
        num_3d_blocks=d.temporal_3d_blocks, pool=config.model.matching_pool,
        temporal_downsample=d.temporal_downsample, **common)
  return Discriminators(spatial, temporal, matching)


def reset_standing_stats(model, num_frames):
  """Standing statistics of every FrameBatchNorm sized for ``num_frames`` (mean 0, var 1)."""
  for m in model.modules():
    if isinstance(m, FrameBatchNorm):
      m.mean = torch.zeros(num_frames, m.mean.shape[1], device=m.mean.device)
      m.var = torch.ones(num_frames, m.var.shape[1], device=m.var.device)


# --------------------------------------------------------------------------- Flax weights


def _np(x):
  return np.array(x, dtype=np.float32)  # a writable copy


def _copy(dst, src, where):
  if tuple(dst.shape) != tuple(src.shape):
    raise ValueError(f"{type(where).__name__}: shape {tuple(src.shape)} from Flax does not "
                     f"fit the torch tensor of shape {tuple(dst.shape)}")
  with torch.no_grad():
    dst.copy_(src.to(dst.dtype))


def load_from_flax(torch_module, flax_module):
  """Copies an hvg_jax model's parameters, spectral-norm vectors and standing statistics
  into the torch model of the same config (raises on any difference in structure)."""
  tm, fm = torch_module, flax_module
  fname = type(fm).__name__
  tname = type(tm).__name__
  compatible = {"SNLinear": "SNDense", "SNConv2d": "SNConv", "SNConv3d": "SNConv",
                "Embedding": "Embed", "ModuleList": "List"}.get(tname, tname)
  if compatible != fname:
    raise ValueError(f"structure differs: torch {tname} where Flax has {fname}")
  if hasattr(tm, "load_flax"):
    tm.load_flax(fm)
    if isinstance(tm, (SpectralNormalized, LatentStem)):
      return
  for name, child in tm.named_children():
    if isinstance(tm, nn.ModuleList):
      fchild = fm[int(name)]
    else:
      fchild = getattr(fm, name, None)
    if isinstance(child, nn.Identity):
      if fchild is not None:
        raise ValueError(f"structure differs: Flax {fname}.{name} is not None")
      continue
    if fchild is None:
      raise ValueError(f"structure differs: Flax {fname} has no {name}")
    load_from_flax(child, fchild)


def count_parameters(module) -> int:
  return sum(p.numel() for p in module.parameters())


# --------------------------------------------------------------------------- lower levels


class FrozenLevel:
  """A frozen level's torch generator in sampling mode, with standing statistics for
  ``stats_frames`` output frames (its whole video)."""

  def __init__(self, config, generator, stats_frames):
    self.config = config
    self.shapes = config_lib.level_shapes(config)
    self.generator = generator.eval().requires_grad_(False)
    self.stats_frames = stats_frames
    self.call = self.generator

  def temporal_radius(self):
    return sum(m.temporal.weight.shape[2] // 2 for m in self.generator.modules()
               if isinstance(m, SeparableConv3D))

  def input_margin(self):
    return math.ceil(self.temporal_radius() / self.shapes.time_factor)


def take_windows(video, starts, length):
  idx = starts[:, None] + torch.arange(length, device=video.device)
  return video[torch.arange(video.shape[0], device=video.device)[:, None], idx]


def _set_frame_offsets(generator, offsets):
  for m in generator.modules():
    if isinstance(m, FrameBatchNorm):
      m.frame_offsets = offsets


def windows(levels, zs, labels, starts, length):
  """x^n[i, starts[i]:starts[i] + length] of the top level of ``levels``, as
  hvg_jax.chain.generate.windows: level 1 whole, each level above on per-sample chunks."""
  top = levels[-1]
  if not top.shapes.upsampling:
    return take_windows(top.call(zs[-1], labels, num_frames=top.stats_frames), starts, length)
  f = top.shapes.time_factor
  input_frames = top.stats_frames // f
  margin = top.input_margin()
  chunk_in = min(input_frames, -(-length // f) + 1 + 2 * margin)
  c = torch.clamp(starts // f - margin, 0, input_frames - chunk_in)
  low = windows(levels[:-1], zs[:-1], labels, c, chunk_in)
  # Per-sample standing statistics: BatchNorm in sampling mode is per sample, so one
  # batched call with per-sample offsets is hvg_jax's vmap over samples.
  _set_frame_offsets(top.generator, c * f)
  try:
    out = top.call(zs[-1], low, labels)
  finally:
    _set_frame_offsets(top.generator, None)
  return take_windows(out, starts - c * f, length)


class LowerLevels:
  """Random windows of x^{l-1}, ``window`` frames each (hvg_jax.chain.generate)."""

  def __init__(self, levels, window):
    self.levels, self.window = levels, window

  def draw(self, batch, device):
    frames = self.levels[-1].stats_frames
    starts = torch.randint(0, frames - self.window + 1, (batch,), device=device)
    zs = [torch.randn(batch, lv.config.model.g.z_dim, device=device) for lv in self.levels]
    return starts, zs

  @torch.no_grad()
  def __call__(self, labels, starts, zs):
    return windows(self.levels, zs, labels, starts, self.window)


def whole_lengths(configs):
  """Frames of every level's whole video (hvg_jax.chain.sampler.level_lengths)."""
  lengths = [config_lib.level_shapes(configs[-1]).video_frames]
  for c in reversed(configs[1:]):
    lengths.insert(0, lengths[0] // config_lib.level_shapes(c).time_factor)
  return lengths


def random_lower_levels(configs, device):
  """Untrained frozen generators of ``configs`` with (mean 0, var 1) standing statistics
  for their whole videos: as fast as trained ones."""
  levels = []
  for config, length in zip(configs, whole_lengths(configs)):
    g = build_generator(config).to(device)
    reset_standing_stats(g, length)
    levels.append(FrozenLevel(config, g, length))
  return levels


# --------------------------------------------------------------------------- training


def hinge_losses(scores, batch):
  scores = {k: s.float() for k, s in scores.items()}
  real = torch.cat([s[:batch].reshape(batch, -1) for s in scores.values()], dim=1)
  fake = torch.cat([s[batch:].reshape(batch, -1) for s in scores.values()], dim=1)
  loss = F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()
  parts = {}
  for name, s in scores.items():
    parts[f"d_real/{name}"] = F.relu(1.0 - s[:batch]).mean()
    parts[f"d_fake/{name}"] = F.relu(1.0 + s[batch:]).mean()
  return loss, parts


def generator_loss(scores):
  return -torch.cat([s.reshape(s.shape[0], -1).float() for s in scores.values()], 1).mean()


def _grad_norm(params):
  grads = [p.grad for p in params if p.grad is not None]
  return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))


class Trainer:
  """One level's training state and iteration, as hvg_jax.train.step.

  ``step(batch)`` with batch {"video": uint8 (d_steps, B, T, 3, R, R), "label": int64
  (d_steps, B)}, on ``device``. ``compile``: torch.compile of G, D and the frozen
  generators (the Python loop, losses and Adam stay eager). ``draw(j, batch)`` gives the
  randomness of D step j (j = d_steps: the G step); override it to replay other draws.
  """

  def __init__(self, config, lower_configs=(), *, device="cpu", dtype="float32",
               compile=False, lower_levels=None, generator=None, discriminators=None):
    if dtype not in config_lib.DTYPES:
      raise ValueError(f"dtype: one of {config_lib.DTYPES}, got {dtype!r}")
    self.config = config
    self.device = torch.device(device)
    self.shapes = config_lib.level_shapes(config)
    self.autocast = dtype == "bfloat16"
    t = config.train
    if generator is None:
      generator = build_generator(config)
    if discriminators is None:
      discriminators = build_discriminators(config)
    self.generator = generator.to(self.device).train()
    self.discriminators = discriminators.to(self.device).train()
    self.ema_generator = copy.deepcopy(self.generator) if t.ema_decay else None
    if self.shapes.upsampling:
      if lower_levels is None:
        if len(lower_configs) != config.level - 1:
          raise ValueError(f"level {config.level} needs the configs of levels "
                           f"1..{config.level - 1} below it, got {len(lower_configs)}")
        lower_levels = random_lower_levels(list(lower_configs), self.device)
      self.lower = LowerLevels(lower_levels, self.shapes.input_train_frames)
    else:
      self.lower = None
    fused = self.device.type == "cuda"  # the fastest PyTorch Adam where it exists
    self.g_optimizer = torch.optim.Adam(self.generator.parameters(), lr=t.g_lr,
                                        betas=tuple(t.g_betas), eps=1e-8, fused=fused)
    self.d_optimizer = torch.optim.Adam(self.discriminators.parameters(), lr=t.d_lr,
                                        betas=tuple(t.d_betas), eps=1e-8, fused=fused)
    self.step_count = 0
    self.g_call, self.d_call = self.generator, self.discriminators
    if compile:
      # Static shapes: D sees 2B videos in D steps and B in the G step, one graph each.
      self.g_call = torch.compile(self.generator, dynamic=False)
      self.d_call = torch.compile(self.discriminators, dynamic=False)
      if self.lower is not None:
        for lv in self.lower.levels:
          lv.call = torch.compile(lv.generator, dynamic=False)

  def _autocast(self):
    return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast)

  def draw(self, j, batch):
    """Randomness of D step j (j = d_steps: the G step): noise, classes, lower-level
    windows (starts, noise per level) and D_S's frames (None: drawn inside D_S)."""
    dev = self.device
    out = {"z": torch.randn(batch, self.config.model.g.z_dim, device=dev),
           "labels": (torch.randint(0, self.shapes.num_classes, (batch,), device=dev)
                      if self.shapes.num_classes else None),
           "spatial_idx": None}
    if self.lower is not None:
      out["starts"], out["lower_zs"] = self.lower.draw(batch, dev)
    return out

  def _inputs(self, draw):
    low = None
    if self.lower is not None:
      with self._autocast():
        low = self.lower(draw["labels"], draw["starts"], draw["lower_zs"]).float()
    return draw["z"], draw["labels"], low

  def _generate(self, z, labels, low):
    return self.g_call(z, low, labels) if self.shapes.upsampling else self.g_call(z, labels)

  def step(self, batch):
    t = self.config.train
    metrics = {}
    d_params = list(self.discriminators.parameters())
    g_params = list(self.generator.parameters())
    for j in range(t.d_steps):
      real = to_float(batch["video"][j])
      b = real.shape[0]
      real_labels = batch["label"][j] if self.shapes.num_classes else None
      real_low = None
      if self.shapes.upsampling:
        real_low = downsample_video(real, self.shapes.time_factor,
                                    self.shapes.input_resolution)
      draw = self.draw(j, b)
      z, fake_labels, fake_low = self._inputs(draw)
      with torch.no_grad(), self._autocast():
        fake = self._generate(z, fake_labels, fake_low).float()
      video = torch.cat([real, fake])
      labels = None if real_labels is None else torch.cat([real_labels, fake_labels])
      low = None if real_low is None else torch.cat([real_low, fake_low])
      with self._autocast():
        scores = self.d_call(video, labels, low, draw["spatial_idx"])
      d_loss, parts = hinge_losses(scores, b)
      self.d_optimizer.zero_grad(set_to_none=True)
      d_loss.backward()
      metrics["grad_norm/d"] = metrics.get("grad_norm/d", 0.0) + _grad_norm(
          d_params) / t.d_steps
      self.d_optimizer.step()
      for name, value in parts.items():
        metrics[name] = metrics.get(name, 0.0) + value.detach() / t.d_steps
      metrics["d_loss"] = metrics.get("d_loss", 0.0) + d_loss.detach() / t.d_steps

    draw = self.draw(t.d_steps, t.batch_size)
    z, labels, low = self._inputs(draw)
    self.discriminators.requires_grad_(False)  # G's update needs no D weight gradients
    try:
      with self._autocast():
        scores = self.d_call(self._generate(z, labels, low), labels, low,
                             draw["spatial_idx"])
      g_loss = generator_loss(scores)
      self.g_optimizer.zero_grad(set_to_none=True)
      g_loss.backward()
    finally:
      self.discriminators.requires_grad_(True)
    metrics["grad_norm/g"] = _grad_norm(g_params)
    self.g_optimizer.step()
    metrics["g_loss"] = g_loss.detach()

    if self.ema_generator is not None:
      decay = t.ema_decay if self.step_count >= t.ema_start else 0.0
      with torch.no_grad():
        torch._foreach_lerp_(list(self.ema_generator.parameters()), g_params, 1.0 - decay)
        for name, buf in self.ema_generator.named_buffers():
          if name.split(".")[-1] in ("u", "v"):
            buf.copy_(self.generator.get_buffer(name))
    with torch.no_grad():
      params = g_params + d_params
      params_norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(params)))
    metrics["finite"] = (torch.isfinite(metrics["d_loss"]) & torch.isfinite(g_loss)
                         & torch.isfinite(metrics["grad_norm/d"])
                         & torch.isfinite(metrics["grad_norm/g"]) & torch.isfinite(params_norm))
    self.step_count += 1
    return metrics


def synthetic_batch(config, device, seed=0):
  """Random uint8 videos (d_steps, B, T, 3, R, R) and labels, as hvg_jax.benchmark's."""
  shapes = config_lib.level_shapes(config)
  t = config.train
  g = torch.Generator().manual_seed(seed)
  video = torch.randint(0, 256, (t.d_steps, t.batch_size, shapes.train_frames, 3,
                                 shapes.resolution, shapes.resolution),
                        dtype=torch.uint8, generator=g)
  label = torch.randint(0, max(shapes.num_classes, 1), (t.d_steps, t.batch_size),
                        generator=g)
  return {"video": video.to(device), "label": label.to(device)}
