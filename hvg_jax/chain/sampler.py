"""Whole videos from a chain: level 1, then each upsampler over the whole video in chunks.

Each upsampler runs on fixed-size chunks of its input (its training window plus margins),
so its compiled program, and the device memory it needs, do not depend on the video's
length; whole videos are assembled on the host. Standing statistics for lengths other than
the stored ones are recomputed first (``standing_statistics``), level by level, the same
way.
"""

import collections
import copy
import functools

import jax
import numpy as np
from tqdm import tqdm

from hvg_jax import runtime
from hvg_jax.chain import generate as gen
from hvg_jax.chain import stats_cache
from hvg_jax.level import ChainError, FrozenLevel, stats_frames


class Frames:
  """Consecutive frames [start, end) of a level's videos (host arrays, time on axis 1),
  kept as they are made and dropped once nothing needs them."""

  def __init__(self):
    self.start, self.frames = 0, None

  @property
  def end(self) -> int:
    return self.start + (0 if self.frames is None else self.frames.shape[1])

  def append(self, frames: np.ndarray):
    self.frames = frames if self.frames is None else np.concatenate([self.frames, frames], 1)

  def get(self, a: int, b: int) -> np.ndarray:
    return self.frames[:, a - self.start:b - self.start]

  def drop_before(self, a: int):
    if a > self.start:
      self.frames, self.start = self.frames[:, a - self.start:], a


def level_lengths(levels: list[FrozenLevel], top_frames: int | None = None) -> list[int]:
  """Frames of every level's video when the top level outputs ``top_frames`` (default:
  its whole training video)."""
  factors = [lv.shapes.time_factor if lv.shapes.upsampling else 1 for lv in levels]
  if top_frames is None:
    top_frames = levels[-1].shapes.video_frames
  total = int(np.prod(factors))
  if top_frames < 1 or top_frames % total:
    nearest = sorted({total * max(1, top_frames // total), total * (top_frames // total + 1)})
    raise ChainError(
        f"--frames={top_frames}: level {len(levels)} outputs {total} frames for every "
        f"level-1 frame, so the number of frames must be a positive multiple of {total} "
        f"(e.g. {' or '.join(map(str, nearest))})")
  lengths = [top_frames]
  for f in reversed(factors[1:]):
    lengths.insert(0, lengths[0] // f)
  return lengths


class ChainSampler:
  """Samples a chain's videos; the compiled functions are kept between calls.

  With a ``mesh``, the videos of a batch are split over its ``data`` axis (the levels'
  weights should be replicated on it), so BatchNorm statistics are the whole batch's.
  """

  def __init__(self, levels: list[FrozenLevel], *, mesh=None, progress: bool = True):
    self.levels = levels
    self.mesh = mesh
    self.progress = progress
    self._generate = [jax.jit(functools.partial(gen.generate, lv)) for lv in levels]
    self._statistics = [jax.jit(functools.partial(gen.batch_statistics, lv),
                                static_argnums=1) for lv in levels]

  def for_levels(self, levels: list[FrozenLevel]) -> "ChainSampler":
    """A sampler of ``levels``; when they are the same networks as this one's (graphdefs,
    configs, statistics layout), e.g. a level in training at a later step, it shares this
    one's compiled functions: new weights are new arguments, not a new trace."""
    same = len(levels) == len(self.levels) and all(
        a.graphdef == b.graphdef and a.config == b.config
        and jax.tree.structure(a.stats) == jax.tree.structure(b.stats)
        for a, b in zip(levels, self.levels))
    if not same:
      return ChainSampler(levels, mesh=self.mesh, progress=self.progress)
    other = copy.copy(self)
    other.levels = levels
    return other

  def _put(self, x):
    return runtime.put_per_example(x, self.mesh)

  @staticmethod
  def _fetch(x) -> np.ndarray:
    return runtime.fetch(x)

  def chunk(self, k: int) -> int:
    """Input frames each chunk of level k outputs: its training window."""
    return self.levels[k].shapes.input_train_frames

  def _plan(self, k: int, input_frames: int):
    return gen.chunks(input_frames, self.chunk(k), gen.input_margin(self.levels[k]))

  def compiled_upsampler(self, k: int, input_frames: int, batch: int):
    """The compiled chunk program of upsampling level k (index) for a whole input video of
    ``input_frames`` frames (for its memory analysis)."""
    lv = self.levels[k]
    length, _ = self._plan(k, input_frames)
    f, r = lv.shapes.time_factor, lv.shapes.input_resolution
    stats = gen.fresh_stats(lv.stats, length * f)
    z = self._put(np.zeros((batch, lv.config.model.g.z_dim), np.float32))
    low = self._put(np.zeros((batch, length, r, r, 3), np.float32))
    labels = self._put(np.zeros((batch,), np.int32) if lv.shapes.num_classes else None)
    return self._generate[k].lower(lv.params, stats, z, low, labels).compile()

  def _over_chunks(self, k: int, lower, input_frames: int, run):
    """Yields (c, a, b, run(c, input frames [c, c + L))) for the chunks of level k (index)
    in order, pulling its input from ``lower`` (the input video's frames in order, in pieces
    of any length) and holding only the input frames the next chunk needs."""
    length, plan = self._plan(k, input_frames)
    low = Frames()
    for c, a, b in plan:
      while low.end < c + length:
        low.append(next(lower))
      low.drop_before(c)
      yield c, a, b, run(c, self._put(low.get(c, c + length)))

  def _chunks_of(self, k: int, stats, z, labels, lower, input_frames: int):
    """Level k's (index) output in order, chunk by chunk (host arrays), from ``lower``."""
    lv = self.levels[k]
    f = lv.shapes.time_factor
    length = self._plan(k, input_frames)[0] * f
    run = lambda c, low: self._generate[k](lv.params, gen.slice_stats(stats, c * f, length),
                                           self._put(z), low, self._put(labels))
    for c, a, b, y in self._over_chunks(k, lower, input_frames, run):
      yield self._fetch(y)[:, (a - c) * f:(b - c) * f]

  def _made(self, k: int, stats: list, zs, labels, made=None):
    """Level k's (index) video in order, in chunks (level 1: whole), each also appended
    with its level to ``made``; the levels below are made as it needs them."""
    lv = self.levels[k]
    if not lv.shapes.upsampling:
      chunks = [self._fetch(self._generate[k](lv.params, stats[k], self._put(zs[k]), None,
                                              self._put(labels)))]
    else:
      chunks = self._chunks_of(k, stats[k], zs[k], labels,
                               self._made(k - 1, stats, zs, labels, made),
                               stats_frames(stats[k]) // lv.shapes.time_factor)
    for y in chunks:
      if made is not None:
        made.append((k, y))
      yield y

  def upsample(self, k: int, stats, z, low: np.ndarray, labels) -> np.ndarray:
    """Level k (index) over the whole input video ``low``, chunk by chunk (host arrays)."""
    n, f = len(self._plan(k, low.shape[1])[1]), self.levels[k].shapes.time_factor
    out, start = None, 0
    for y in tqdm(self._chunks_of(k, stats, z, labels, iter([low]), low.shape[1]), total=n,
                  desc=f"level {k + 1} ({low.shape[1] * f} frames)",
                  disable=not self.progress or n < 2, leave=False):
      if out is None:
        out = np.empty((y.shape[0], low.shape[1] * f) + y.shape[2:], y.dtype)
      out[:, start:start + y.shape[1]] = y
      start += y.shape[1]
    return out

  def videos(self, stats: list, zs, labels, *, top: int | None = None) -> list[np.ndarray]:
    """Every level's whole video (host arrays in [-1, 1]) up to level index ``top``."""
    top = len(self.levels) - 1 if top is None else top
    lv = self.levels[0]
    out = [self._fetch(self._generate[0](lv.params, stats[0], self._put(zs[0]), None,
                                         self._put(labels)))]
    for k in range(1, top + 1):
      out.append(self.upsample(k, stats[k], zs[k], out[-1], labels))
    return out

  def stream(self, stats: list, zs, labels):
    """Every level's video made chunk by chunk: yields (k, frames) (level index, host array
    in [-1, 1]) in the order they are made: each level's frames in order, a lower level's
    before the top's frames that need them. Holds level 1's whole video (its ConvGRU runs
    the whole length in one call) and, of every other level, only what the next chunk
    above needs, so host memory does not grow with the top level's length."""
    made = collections.deque()
    top = len(self.levels) - 1
    frames = stats_frames(stats[top])
    n = len(self._plan(top, frames // self.levels[top].shapes.time_factor)[1]) if top else 1
    for _ in tqdm(self._made(top, stats, zs, labels, made), total=n,
                  desc=f"videos ({frames} frames)", disable=not self.progress):
      while made:
        yield made.popleft()

  def _pass_statistics(self, k: int, length: int, zs, labels, lower_stats) -> list:
    """Level k's per-frame batch statistics of one pass over ``length`` frames."""
    lv = self.levels[k]
    if not lv.shapes.upsampling:
      return jax.tree.map(self._fetch, self._statistics[0](
          lv.params, length, self._put(zs[0]), None, self._put(labels)))
    f = lv.shapes.time_factor
    chunk_len = self._plan(k, length // f)[0] * f
    run = lambda c, low: self._statistics[k](lv.params, chunk_len, self._put(zs[k]), low,
                                             self._put(labels))
    full = None
    lower = self._made(k - 1, lower_stats, zs, labels)  # made as the chunks need it
    for c, a, b, s in self._over_chunks(k, lower, length // f, run):
      s = jax.tree.map(self._fetch, s)
      if full is None:
        full = jax.tree.map(lambda x: np.zeros((length,) + x.shape[1:], x.dtype)
                            if x.ndim else x, s)
      for dst, src in zip(jax.tree.leaves(full), jax.tree.leaves(s)):
        if src.ndim:
          dst[a * f:b * f] = src[(a - c) * f:(b - c) * f]
    return full

  def standing_statistics(self, lengths: list[int], *, passes: int, batch: int, key,
                          sigma: float = 1.0, recompute=()) -> list:
    """Standing statistics for every level at ``lengths``: the stored ones where the
    length is the stored one (unless its index is in ``recompute``), else the mean over
    ``passes`` dummy passes of ``batch`` videos (levels in order: each pass of level k
    runs the levels below with theirs)."""
    stats = []
    for k, (lv, length) in enumerate(zip(self.levels, lengths)):
      if length == lv.stats_frames and k not in recompute:
        stats.append(lv.stats)
        continue
      total = None
      for p in tqdm(range(passes), desc=f"standing statistics, level {k + 1} "
                    f"({length} frames)", disable=not self.progress, leave=False):
        k_z, k_y = jax.random.split(jax.random.fold_in(key, p))
        zs = gen.noise(k_z, self.levels[:k + 1], batch, sigma)
        labels = random_labels(k_y, lv, batch)
        s = self._pass_statistics(k, length, zs, labels, stats)
        total = s if total is None else jax.tree.map(np.add, total, s)
      mean = jax.tree.map(lambda x: x / passes if x.ndim else np.asarray(passes, x.dtype),
                          total)
      stats.append(self.place(mean))
    return stats

  def place(self, stats):
    """Host statistics as device arrays: replicated over the mesh (every process holds the
    same values), or on the default device."""
    return runtime.put_replicated(stats, self.mesh)


def random_labels(key, level: FrozenLevel, batch: int):
  n = level.shapes.num_classes
  return jax.random.randint(key, (batch,), 0, n) if n else None


def _prepared(levels, *, frames, num_videos, sigma, seed, label, passes, batch, mesh,
              progress, cache_dir=None):
  """(sampler, standing statistics, noise, labels) of a sampling job, its settings checked;
  recomputed standing statistics are kept in (and taken from) ``cache_dir``."""
  top = levels[-1].config
  lengths = level_lengths(levels, frames)
  num_classes = levels[0].shapes.num_classes
  if label is not None and (not num_classes or not 0 <= label < num_classes):
    raise ChainError(f"--label={label}: the chain has classes 0..{num_classes - 1}"
                     if num_classes else "--label: the chain is unconditional; leave it out")
  passes = top.sample.standing_passes if passes is None else passes
  batch = top.sample.standing_batch if batch is None else batch
  for name, value in (("--num_videos", num_videos), ("--standing_passes", passes),
                      ("--standing_batch", batch)):
    if value < 1:
      raise ChainError(f"{name}={value}: must be at least 1")
  sampler = ChainSampler(levels, mesh=mesh, progress=progress)
  k_noise, k_stats = jax.random.split(jax.random.key(seed))
  # The stored statistics are of σ = 1 noise: other scales recompute every level's.
  recompute = list(range(len(levels))) if sigma != 1.0 else []
  compute = functools.partial(sampler.standing_statistics, lengths, passes=passes,
                              batch=batch, key=k_stats, sigma=sigma, recompute=recompute)
  if cache_dir and (recompute or any(t != lv.stats_frames for t, lv in zip(lengths, levels))):
    cache = stats_cache.path(cache_dir, levels, dict(
        lengths=lengths, passes=passes, batch=batch, sigma=sigma, seed=seed))
    stats = stats_cache.load_or_compute(cache, levels, compute, sampler.place)
  else:
    stats = compute()
  labels = None
  if num_classes:
    labels = (np.full(num_videos, label) if label is not None
              else np.arange(num_videos) % num_classes).astype(np.int32)
  zs = gen.noise(k_noise, levels, num_videos, sigma)
  return sampler, stats, zs, labels


def sample_chain(levels, *, frames=None, num_videos=8, sigma=1.0, seed=0, label=None,
                 passes=None, batch=None, mesh=None, progress=True,
                 cache_dir=None) -> list[np.ndarray]:
  """Every level's videos, (N, T_k, R_k, R_k, 3) in [-1, 1], level 1 first.

  ``frames``: the top level's (default: its whole training video); ``passes`` and
  ``batch`` of the dummy passes for standing statistics (default: the top config's), kept
  in ``cache_dir`` (see :mod:`hvg_jax.chain.stats_cache`) when given.
  """
  sampler, stats, zs, labels = _prepared(
      levels, frames=frames, num_videos=num_videos, sigma=sigma, seed=seed, label=label,
      passes=passes, batch=batch, mesh=mesh, progress=progress, cache_dir=cache_dir)
  return sampler.videos(stats, zs, labels)


def stream_chain(levels, *, frames=None, num_videos=8, sigma=1.0, seed=0, label=None,
                 passes=None, batch=None, mesh=None, progress=True,
                 cache_dir=None):
  """:func:`sample_chain`'s videos (the same ones) made chunk by chunk: (lengths of every
  level's videos, an iterator of (level index, frames)), see :meth:`ChainSampler.stream`."""
  sampler, stats, zs, labels = _prepared(
      levels, frames=frames, num_videos=num_videos, sigma=sigma, seed=seed, label=label,
      passes=passes, batch=batch, mesh=mesh, progress=progress, cache_dir=cache_dir)
  return [stats_frames(s) for s in stats], sampler.stream(stats, zs, labels)
