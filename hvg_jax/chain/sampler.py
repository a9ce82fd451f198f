"""Videos from a chain, made piece by piece: level 1 in pieces (its ConvGRU state carried
from one to the next), then each upsampler in chunks of the level below's video, each
level's frames made only as far as the level above needs them; the same for the dummy
passes of standing statistics. Host and device memory do not grow with the length.

Piece and chunk sizes are chosen at sampling time, per level and batch, for speed: the
largest (doubling from the level's training window) whose compiled program fits a
device-memory budget (``chunk_memory``), since every chunk recomputes its margins and
every call has its overhead. They do not change the videos: a level-1 video made in
pieces is the video made at once, and an upsampler's chunks overlap by its margins.

Standing statistics for lengths other than the stored ones are recomputed first
(``standing_statistics``), level by level: the papers' dummy passes over the whole length,
or for upsamplers with ``window`` over a ``window``-frame video, whose statistics are
stretched to the length: its first and last frames kept, the mean of its middle frames
between (the demo chain's are the same from frame 128 to the last few; RESULTS.md).
"""

import contextlib
import copy
import functools

import jax
import numpy as np
from absl import logging
from jax.experimental import multihost_utils
from tqdm import tqdm

from hvg_jax import runtime
from hvg_jax.chain import generate as gen
from hvg_jax.chain import stats_cache
from hvg_jax.level import ChainError, FrozenLevel, stats_frames

# Bytes. On CPU the device memory is the host's: a small budget keeps the host's peak
# memory nearly flat in the length (at 256 MiB it grew by a third from 64 to 4096 frames
# of the demo chain; BENCHMARKS.md).
CPU_CHUNK_MEMORY = 64 << 20


def chunk_memory_budget(mib: float = 0) -> int:
  """Device bytes a chunk's program may use: ``mib`` MiB, or by default (0) a quarter of
  the accelerator's memory (``CPU_CHUNK_MEMORY`` on CPU)."""
  if mib > 0:
    return int(mib * 2**20)
  device = jax.local_devices()[0]
  stats = (device.memory_stats() or {}) if device.platform != "cpu" else {}
  if "bytes_limit" not in stats:
    return CPU_CHUNK_MEMORY
  return (stats["bytes_limit"] - stats.get("bytes_in_use", 0)) // 4  # training state in use


class Frames:
  """Consecutive frames [start, end) of a level's videos (host arrays, time on axis 1),
  kept as they come and dropped once nothing needs them."""

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
  ``chunk_memory``: the device bytes a piece's or chunk's program may use (default:
  :func:`chunk_memory_budget`).
  """

  def __init__(self, levels: list[FrozenLevel], *, mesh=None, progress: bool = True,
               chunk_memory: int | None = None):
    self.levels = levels
    self.mesh = mesh
    self.progress = progress
    self.chunk_memory = chunk_memory_budget() if chunk_memory is None else chunk_memory
    self._generate, self._statistics = [], []
    for lv in levels:
      up = lv.shapes.upsampling
      self._generate.append(jax.jit(functools.partial(
          gen.generate if up else gen.continue_level1, lv)))
      self._statistics.append(jax.jit(functools.partial(
          gen.batch_statistics if up else gen.level1_statistics, lv), static_argnums=1))
    self._chunks = {}  # (level index, kind, batch, frames) -> frames per chunk; memory
    self._bar = None  # the progress of the job under way
    self._dry = None  # while counting a job's work: the units counted so far

  def for_levels(self, levels: list[FrozenLevel]) -> "ChainSampler":
    """A sampler of ``levels``; when they are the same networks as this one's (graphdefs,
    configs, statistics layout), e.g. a level in training at a later step, it shares this
    one's compiled functions: new weights are new arguments, not a new trace."""
    same = len(levels) == len(self.levels) and all(
        a.graphdef == b.graphdef and a.config == b.config
        and jax.tree.structure(a.stats) == jax.tree.structure(b.stats)
        for a, b in zip(levels, self.levels))
    if not same:
      return ChainSampler(levels, mesh=self.mesh, progress=self.progress,
                          chunk_memory=self.chunk_memory)
    other = copy.copy(self)
    other.levels = levels
    return other

  def _put(self, x):
    return runtime.put_per_example(x, self.mesh)

  @staticmethod
  def _fetch(x) -> np.ndarray:
    return runtime.fetch(x)

  def place(self, stats):
    """Host statistics as device arrays: replicated over the mesh (every process holds the
    same values), or on the default device."""
    return runtime.put_replicated(stats, self.mesh)

  # Chunk sizes.

  def _example_args(self, k: int, kind: str, batch: int, run: int):
    """Zero arguments of level k's (index) program on ``run`` input frames (level 1:
    output frames), placed as the real ones are."""
    lv = self.levels[k]
    z = self._put(np.zeros((batch, lv.config.model.g.z_dim), np.float32))
    labels = self._put(np.zeros((batch,), np.int32) if lv.shapes.num_classes else None)
    if not lv.shapes.upsampling:
      state = [self._put(np.asarray(s)) for s in gen.level1_start(lv, z, labels)]
      if kind == "stats":
        return lv.params, run, z, labels, state
      return lv.params, self.place(gen.fresh_stats(lv.stats, run)), z, labels, state
    r = lv.shapes.input_resolution
    low = self._put(np.zeros((batch, run, r, r, 3), np.float32))
    f = lv.shapes.time_factor
    if kind == "stats":
      return lv.params, run * f, z, low, labels
    return lv.params, self.place(gen.fresh_stats(lv.stats, run * f)), z, low, labels

  def compiled(self, k: int, kind: str, batch: int, run: int):
    """Level k's (index) program (kind "sample" or "stats") on ``run`` input frames (level
    1: output frames), compiled (calls with such arguments reuse it)."""
    program = (self._generate if kind == "sample" else self._statistics)[k]
    return program.lower(*self._example_args(k, kind, batch, run)).compile()

  def _memory(self, k: int, kind: str, batch: int, run: int) -> int:
    key = ("memory", k, kind, batch, run)
    if key not in self._chunks:
      m = self.compiled(k, kind, batch, run).memory_analysis()
      self._chunks[key] = (m.temp_size_in_bytes + m.argument_size_in_bytes
                           + m.output_size_in_bytes - m.alias_size_in_bytes)
    return self._chunks[key]

  def chunk(self, k: int, kind: str, batch: int, frames: int) -> int:
    """Input frames per chunk of level k (index; level 1: frames per piece) on a video
    whose input has ``frames`` frames: from the training window, doubled while the
    program's device memory (estimated from the training window's, then measured) fits
    ``chunk_memory``, at most the whole video."""
    key = (k, kind, batch, frames)
    if key in self._chunks:
      return self._chunks[key]
    lv = self.levels[k]
    unit = lv.shapes.input_train_frames if lv.shapes.upsampling else lv.stats_frames
    margin = gen.input_margin(lv) if lv.shapes.upsampling else 0
    run = lambda c: min(frames, c + 2 * margin)
    c = min(unit, frames)
    if c < frames:
      per_frame = self._memory(k, kind, batch, run(c)) / run(c)  # params included: high
      while c < frames and per_frame * run(min(2 * c, frames)) <= self.chunk_memory:
        c = min(2 * c, frames)
      while c > unit and self._memory(k, kind, batch, run(c)) > self.chunk_memory:
        c = max(unit, c // 2)
      if c == unit and self._memory(k, kind, batch, run(c)) > self.chunk_memory:
        logging.warning("Level %d's %s program on its training window takes more than "
                        "the chunk memory budget (%d MiB); running it anyway.", k + 1, kind,
                        self.chunk_memory >> 20)
    if jax.process_count() > 1:  # one plan on every process (their devices may differ)
      c = int(multihost_utils.broadcast_one_to_all(np.int32(c)))
    self._chunks[key] = c
    return c

  def _plan(self, k: int, kind: str, batch: int, input_frames: int):
    margin = gen.input_margin(self.levels[k])
    return gen.chunks(input_frames, self.chunk(k, kind, batch, input_frames), margin)

  # Progress over a whole job.

  def _tick(self, k: int, batch: int, frames: int):
    """Counts a call of level k (index) that made ``frames`` frames of ``batch`` videos,
    in frames of the top level's resolution."""
    r, top = self.levels[k].shapes.resolution, self.levels[-1].shapes.resolution
    units = batch * frames * r * r / (top * top)
    if self._dry is not None:
      self._dry[0] += units
    elif self._bar is not None:
      self._bar.update(units)

  def _work(self, make) -> tuple[float, object]:
    """(the units ``make()`` counts, what it returns), running no program."""
    outer, self._dry = self._dry, [0.0]
    try:
      out = make()
    finally:
      counted, self._dry = self._dry[0], outer
    return counted, out

  @contextlib.contextmanager
  def job(self, work: float, desc: str, add: bool = False):
    """A progress bar over ``work`` units with its ETA; within another job's, nothing
    (its opener counted the work), or with ``add`` (work it could not know of, such as
    statistics not found in a cache) ``work`` more on that bar."""
    if self._bar is not None:
      if add:
        self._bar.total += work
        self._bar.refresh()
      yield
      return
    self._bar = tqdm(total=work, desc=desc, disable=not self.progress, mininterval=0.5,
                     bar_format="{desc}: {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}]")
    try:
      yield
    finally:
      self._bar.close()
      self._bar = None

  # Making videos.

  def _level1_pieces(self, kind: str, stats, length: int, z, labels):
    """(start, output) of level 1's pieces of a ``length``-frame video in order (the last
    one cut): its frames ("sample", with ``stats``) or their batch statistics ("stats")."""
    lv, batch = self.levels[0], z.shape[0]
    c = self.chunk(0, kind, batch, length)
    if kind == "sample":
      stats = gen.pad_stats(stats, -(-length // c) * c)
    state = None
    for s in range(0, length, c):
      n = min(c, length - s)
      self._tick(0, batch, c)
      if self._dry is not None:
        yield s, np.empty((0, n))
        continue
      if state is None:
        state = [self._put(np.asarray(x)) for x in gen.level1_start(lv, z, labels)]
      if kind == "sample":
        y, state = self._generate[0](lv.params, gen.slice_stats(stats, s, c), self._put(z),
                                     self._put(labels), state)
        yield s, self._fetch(y)[:, :n]
      else:
        y, state = self._statistics[0](lv.params, c, self._put(z), self._put(labels), state)
        yield s, jax.tree.map(lambda x: self._fetch(x)[:n] if x.ndim else self._fetch(x), y)

  def _over_chunks(self, k: int, batch: int, lower, plan, length: int, run):
    """Yields (c, a, b, run(c, input frames [c, c + length))) for the chunks ``plan`` of
    level k (index) in order, pulling their input from ``lower`` (the input video's frames
    in order, in pieces) and holding only the input frames the next chunk needs."""
    lv, low = self.levels[k], Frames()
    for c, a, b in plan:
      while low.end < c + length:
        low.append(next(lower))
      low.drop_before(c)
      y = None if self._dry is not None else run(c, self._put(low.get(c, c + length)))
      self._tick(k, batch, length * lv.shapes.time_factor)
      yield c, a, b, y

  def _made(self, k: int, stats: list, zs, labels, made=None):
    """Level k's (index) video in order, piece by piece (host arrays), each also appended
    with its level to ``made``; the levels below are made as they are needed."""
    lv, batch = self.levels[k], zs[k].shape[0]
    length = stats_frames(stats[k])
    if not lv.shapes.upsampling:
      pieces = (y for _, y in self._level1_pieces("sample", stats[k], length, zs[k], labels))
    else:
      f = lv.shapes.time_factor
      run_len, plan = self._plan(k, "sample", batch, length // f)
      lower = self._made(k - 1, stats, zs, labels, made)
      run = lambda c, low: self._generate[k](
          lv.params, gen.slice_stats(stats[k], c * f, run_len * f), self._put(zs[k]), low,
          self._put(labels))
      pieces = (np.empty((0, (b - a) * f)) if y is None
                else self._fetch(y)[:, (a - c) * f:(b - c) * f]
                for c, a, b, y in self._over_chunks(k, batch, lower, plan, run_len, run))
    for y in pieces:
      if made is not None:
        made.append((k, y))
      yield y

  def stream(self, stats: list, zs, labels):
    """Every level's video made piece by piece: yields (k, frames) (level index, host
    array in [-1, 1]) in the order they are made: each level's frames in order, a lower
    level's before the top's frames that need them; of every level only what the next
    chunk above needs is held, so host memory does not grow with the top level's length."""
    made, top = [], len(self.levels) - 1
    for _ in self._made(top, stats, zs, labels, made=made):
      yield from made
      made.clear()

  def sample_work(self, lengths: list[int], zs) -> float:
    """The progress units of :meth:`stream` at ``lengths``."""
    stats = [gen.fresh_stats(lv.stats, n) for lv, n in zip(self.levels, lengths)]
    return self._work(lambda: list(self.stream(stats, zs, None)))[0]

  def videos(self, stats: list, zs, labels) -> list[np.ndarray]:
    """Every level's whole video (host arrays in [-1, 1]): :meth:`stream`'s pieces."""
    pieces = [[] for _ in self.levels]
    with self.job(self.sample_work([stats_frames(s) for s in stats], zs), "videos"):
      for k, y in self.stream(stats, zs, labels):
        pieces[k].append(y)
    return [np.concatenate(p, 1) for p in pieces]

  def upsample(self, k: int, stats, z, low: np.ndarray, labels) -> np.ndarray:
    """Level k (index) over the whole input video ``low``, chunk by chunk (host arrays)."""
    lv = self.levels[k]
    f = lv.shapes.time_factor
    run_len, plan = self._plan(k, "sample", low.shape[0], low.shape[1])
    run = lambda c, x: self._generate[k](lv.params, gen.slice_stats(stats, c * f, run_len * f),
                                         self._put(z), x, self._put(labels))
    return np.concatenate([self._fetch(y)[:, (a - c) * f:(b - c) * f] for c, a, b, y in
                           self._over_chunks(k, low.shape[0], iter([low]), plan, run_len,
                                             run)], 1)

  # Standing statistics.

  def _pass_statistics(self, k: int, length: int, zs, labels, lower_stats):
    """Level k's (index) per-frame batch statistics of one pass over ``length`` frames
    (host arrays)."""
    lv, batch = self.levels[k], zs[k].shape[0]
    full = None

    def put(a, b, s):
      nonlocal full
      if self._dry is not None:
        return
      if full is None:
        full = jax.tree.map(lambda x: np.zeros((length,) + x.shape[1:], x.dtype)
                            if x.ndim else x, s)
      for dst, src in zip(jax.tree.leaves(full), jax.tree.leaves(s)):
        if src.ndim:
          dst[a:b] = src

    if not lv.shapes.upsampling:
      c = self.chunk(0, "stats", batch, length)
      for s, st in self._level1_pieces("stats", None, length, zs[0], labels):
        put(s, min(s + c, length), st)
      return full
    f = lv.shapes.time_factor
    run_len, plan = self._plan(k, "stats", batch, length // f)
    lower = self._made(k - 1, lower_stats, zs, labels)
    run = lambda c, low: self._statistics[k](lv.params, run_len * f, self._put(zs[k]), low,
                                             self._put(labels))
    for c, a, b, s in self._over_chunks(k, batch, lower, plan, run_len, run):
      put(a * f, b * f, None if s is None else jax.tree.map(
          lambda x: self._fetch(x)[(a - c) * f:(b - c) * f] if x.ndim else self._fetch(x),
          s))
    return full

  def end_reach(self, k: int) -> int:
    """Frames at the end of level k's (index) video whose statistics its end changes: its
    temporal radius, plus what the end of the level below changes, upsampled (level 1 is
    causal: none)."""
    lv = self.levels[k]
    if not lv.shapes.upsampling:
      return 0
    return gen.temporal_radius(lv) + lv.shapes.time_factor * self.end_reach(k - 1)

  def standing_statistics(self, lengths: list[int], *, passes: int, batch: int, key,
                          sigma: float = 1.0, recompute=(), window: int = 0) -> list:
    """Standing statistics for every level at ``lengths``: the stored ones where the
    length is the stored one (unless its index is in ``recompute``), else the mean over
    ``passes`` dummy passes of ``batch`` videos (levels in order: each pass of level k
    runs the levels below with theirs).

    With ``window`` (top-level frames) shorter than the video, the upsamplers' passes
    run on a ``window``-frame video instead, whose statistics are stretched to the length
    (:func:`stretched`); level 1's passes still run the whole length (it is causal: its
    first frames' statistics are the short video's).
    """
    todo = [k for k, (lv, n) in enumerate(zip(self.levels, lengths))
            if n != lv.stats_frames or k in recompute]
    short = uses_window(self.levels, lengths, window) and any(k in todo for k in
                                                              range(1, len(self.levels)))
    if short:
      try:
        short_lengths = level_lengths(self.levels, window)
      except ChainError as e:
        raise ChainError(str(e).replace("--frames", "--standing_window")) from None
      for k in range(1, len(self.levels)):
        reach = self.end_reach(k)
        if short_lengths[k] <= 2 * reach:
          factor = lengths[-1] // lengths[k]
          raise ChainError(
              f"--standing_window={window}: the statistics of level {k + 1}'s last {reach} "
              f"frames depend on the video's end, so its window ({short_lengths[k]} frames) "
              f"must be more than twice that: at least {(2 * reach + 1) * factor} frames "
              "(a multiple of the frames per level-1 frame), or 0")

    def passes_at(k: int, length: int, below: list):
      total = None
      for p in range(passes):
        k_z, k_y = jax.random.split(jax.random.fold_in(key, p))
        zs = gen.noise(k_z, self.levels[:k + 1], batch, sigma)
        s = self._pass_statistics(k, length, zs, random_labels(k_y, self.levels[k], batch),
                                  below)
        if self._dry is not None:  # one pass counted (the caller multiplies)
          return gen.fresh_stats(self.levels[k].stats, length)
        total = s if total is None else jax.tree.map(np.add, total, s)
      return jax.tree.map(lambda x: x / passes if x.ndim else np.asarray(passes, x.dtype),
                          total)

    def run():
      stats, below = [], []  # below: at the short video's lengths
      for k, (lv, length) in enumerate(zip(self.levels, lengths)):
        if short and k:  # the short video's passes (the levels above need them)
          s = passes_at(k, short_lengths[k], below)
          below.append(self.place(s))
          stats.append(self.place(stretched(s, length, self.end_reach(k)))
                       if k in todo else lv.stats)
          continue
        stats.append(self.place(passes_at(k, length, stats)) if k in todo else lv.stats)
        if short:
          below.append(gen.slice_stats(stats[-1], 0, short_lengths[k]))
      return stats

    if not todo:
      return [lv.stats for lv in self.levels]
    work, counted = self._work(run)
    if self._dry is not None:  # counted as part of a job
      self._dry[0] += passes * work
      return counted
    with self.job(passes * work, "standing statistics", add=True):
      return run()


def uses_window(levels, lengths: list[int], window: int) -> bool:
  """Whether upsamplers' standing statistics at ``lengths`` come from a ``window``-frame
  video (see :meth:`ChainSampler.standing_statistics`)."""
  return bool(window) and lengths[-1] > window and len(levels) > 1


def stretched(stats, length: int, tail: int):
  """A short video's per-frame statistics for a ``length``-frame video: its frames, but
  the last ``tail`` (which the video's end changes) moved to the end and, between, the
  mean of the frames from its middle to those."""
  def stretch(x):
    if not x.ndim:
      return x
    x, n = np.asarray(x), x.shape[0]
    between = np.broadcast_to(x[n // 2:n - tail].mean(0), (length - n,) + x.shape[1:])
    return np.concatenate([x[:n - tail], between, x[n - tail:]])

  return jax.tree.map(stretch, stats)


def random_labels(key, level: FrozenLevel, batch: int):
  n = level.shapes.num_classes
  return jax.random.randint(key, (batch,), 0, n) if n else None


def _prepared(levels, *, frames=None, num_videos=8, sigma=1.0, seed=0, label=None,
              passes=None, batch=None, mesh=None, progress=True, cache_dir=None,
              window=None, chunk_memory=None):
  """(sampler, every level's length, a function that returns the standing statistics,
  noise, labels) of a sampling job, its settings checked; recomputed standing statistics
  are kept in (and taken from) ``cache_dir``."""
  top = levels[-1].config
  lengths = level_lengths(levels, frames)
  num_classes = levels[0].shapes.num_classes
  if label is not None and (not num_classes or not 0 <= label < num_classes):
    raise ChainError(f"--label={label}: the chain has classes 0..{num_classes - 1}"
                     if num_classes else "--label: the chain is unconditional; leave it out")
  passes = top.sample.standing_passes if passes is None else passes
  batch = top.sample.standing_batch if batch is None else batch
  window = top.sample.standing_window if window is None else window
  for name, value, least in (("--num_videos", num_videos, 1), ("--standing_passes", passes, 1),
                             ("--standing_batch", batch, 1), ("--standing_window", window, 0)):
    if value < least:
      raise ChainError(f"{name}={value}: must be at least {least}")
  if chunk_memory is None:
    chunk_memory = chunk_memory_budget(top.sample.chunk_memory_mb)
  sampler = ChainSampler(levels, mesh=mesh, progress=progress, chunk_memory=chunk_memory)
  k_noise, k_stats = jax.random.split(jax.random.key(seed))
  # The stored statistics are of σ = 1 noise: other scales recompute every level's.
  recompute = list(range(len(levels))) if sigma != 1.0 else []
  compute = functools.partial(sampler.standing_statistics, lengths, passes=passes,
                              batch=batch, key=k_stats, sigma=sigma, recompute=recompute,
                              window=window)
  statistics = compute
  if cache_dir and (recompute or any(t != lv.stats_frames for t, lv in zip(lengths, levels))):
    setting = dict(lengths=lengths, passes=passes, batch=batch, sigma=sigma, seed=seed)
    if uses_window(levels, lengths, window):
      setting["window"] = window
    statistics = functools.partial(stats_cache.load_or_compute, stats_cache.path(
        cache_dir, levels, setting), levels, compute, sampler.place)
  labels = None
  if num_classes:
    labels = (np.full(num_videos, label) if label is not None
              else np.arange(num_videos) % num_classes).astype(np.int32)
  zs = gen.noise(k_noise, levels, num_videos, sigma)
  return sampler, lengths, statistics, zs, labels


def _started(levels, settings):
  """(sampler, standing statistics, noise, labels, the job's progress) of a sampling job:
  the progress bar is open over the whole job, standing statistics included."""
  sampler, lengths, statistics, zs, labels = _prepared(levels, **settings)
  job = contextlib.ExitStack()
  job.enter_context(sampler.job(sampler.sample_work(lengths, zs), "sampling"))
  with contextlib.ExitStack() as on_error:
    on_error.push(job)
    stats = statistics()
    on_error.pop_all()
  return sampler, stats, zs, labels, job


def sample_chain(levels, **settings) -> list[np.ndarray]:
  """Every level's videos, (N, T_k, R_k, R_k, 3) in [-1, 1], level 1 first.

  Settings (keywords): ``frames``, the top level's (default: its whole training video);
  ``num_videos`` (8), ``sigma`` (1.0), ``seed`` (0), ``label``; ``passes``, ``batch`` and
  ``window`` of the dummy passes for standing statistics (default: the top config's
  ``sample``), kept in ``cache_dir`` (see :mod:`hvg_jax.chain.stats_cache`) when given;
  ``mesh``, ``progress``, ``chunk_memory`` (see :class:`ChainSampler`).
  """
  sampler, stats, zs, labels, job = _started(levels, settings)
  with job:
    return sampler.videos(stats, zs, labels)


def stream_chain(levels, **settings):
  """:func:`sample_chain`'s videos (the same ones) made piece by piece: (lengths of every
  level's videos, an iterator of (level index, frames)), see :meth:`ChainSampler.stream`."""
  sampler, stats, zs, labels, job = _started(levels, settings)

  def frames():
    with job:
      yield from sampler.stream(stats, zs, labels)

  return [stats_frames(s) for s in stats], frames()

