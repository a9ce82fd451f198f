"""Executes the plans of :mod:`hvg_jax.chain.plan`: each level's compiled programs
(:class:`Programs`, kept between jobs) called chunk by chunk, arrays placed on the mesh,
every level's frames made only as far as the level above needs them; each call's progress
units reported to a callback (the bar lives with the caller, :mod:`hvg_jax.chain.progress`).
"""

import functools

import jax
import numpy as np
from jax.experimental import multihost_utils

from hvg_jax import runtime
from hvg_jax.chain import generate as gen
from hvg_jax.chain.plan import SAMPLE, LevelPlan, SamplePlan, StatsPass, StatsPlan
from hvg_jax.level import FrozenLevel, stats_frames


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


class Programs:
  """Each level's jitted programs (kind "sample": frames; "stats": batch statistics) and
  how arrays are placed: with a ``mesh``, per-example arrays split over its ``data`` axis.
  Also what a plan asks of the device (:class:`hvg_jax.chain.plan.Device`)."""

  def __init__(self, levels: list[FrozenLevel], mesh=None):
    self.levels, self.mesh = levels, mesh
    self.generate, self.statistics = [], []
    for lv in levels:
      up = lv.shapes.upsampling
      self.generate.append(jax.jit(functools.partial(
          gen.generate if up else gen.continue_level1, lv)))
      self.statistics.append(jax.jit(functools.partial(
          gen.batch_statistics if up else gen.level1_statistics, lv), static_argnums=1))

  def put(self, x):
    return runtime.put_per_example(x, self.mesh)

  def place(self, stats):
    """Host statistics as device arrays: replicated over the mesh (every process holds the
    same values), or on the default device."""
    return runtime.put_replicated(stats, self.mesh)

  def _example_args(self, k: int, kind: str, batch: int, run: int):
    """Zero arguments of level k's (index) program on ``run`` input frames (level 1:
    output frames), placed as the real ones are."""
    lv = self.levels[k]
    z = self.put(np.zeros((batch, lv.config.model.g.z_dim), np.float32))
    labels = self.put(np.zeros((batch,), np.int32) if lv.shapes.num_classes else None)
    if not lv.shapes.upsampling:
      state = [self.put(np.asarray(s)) for s in gen.level1_start(lv, z, labels)]
      if kind == "stats":
        return lv.params, run, z, labels, state
      return lv.params, self.place(gen.fresh_stats(lv.stats, run)), z, labels, state
    r = lv.shapes.input_resolution
    low = self.put(np.zeros((batch, run, r, r, 3), np.float32))
    f = lv.shapes.time_factor
    if kind == "stats":
      return lv.params, run * f, z, low, labels
    return lv.params, self.place(gen.fresh_stats(lv.stats, run * f)), z, low, labels

  def compiled(self, k: int, kind: str, batch: int, run: int):
    """Level k's (index) program of ``kind`` on ``run`` input frames (level 1: output
    frames), compiled (calls with such arguments reuse it)."""
    program = (self.generate if kind == SAMPLE else self.statistics)[k]
    return program.lower(*self._example_args(k, kind, batch, run)).compile()

  def memory(self, k: int, kind: str, batch: int, run: int) -> int:
    m = self.compiled(k, kind, batch, run).memory_analysis()
    return (m.temp_size_in_bytes + m.argument_size_in_bytes + m.output_size_in_bytes
            - m.alias_size_in_bytes)

  def agree(self, value: int) -> int:
    if jax.process_count() > 1:  # one plan on every process (their devices may differ)
      return int(multihost_utils.broadcast_one_to_all(np.int32(value)))
    return value


def random_labels(key, level: FrozenLevel, batch: int):
  n = level.shapes.num_classes
  return jax.random.randint(key, (batch,), 0, n) if n else None


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


class Runner:
  """Runs plans with ``programs`` on the weights of ``levels``; ``report(units)`` is told
  the progress units of every call as it is made."""

  def __init__(self, levels: list[FrozenLevel], programs: Programs,
               report=lambda units: None):
    self.levels, self.programs, self.report = levels, programs, report

  # Making videos.

  def _level1_pieces(self, run: LevelPlan, stats, z, labels):
    """(start, output) of level 1's pieces in order (the last one cut): its frames (kind
    "sample", with ``stats``) or their batch statistics ("stats")."""
    lv, p = self.levels[0], self.programs
    length, c = run.frames, run.chunk
    if run.kind == SAMPLE:
      stats = gen.pad_stats(stats, -(-length // c) * c)
    state = None
    for s, _, end in run.chunks:
      n = end - s
      self.report(run.call_units)
      if state is None:
        state = [p.put(np.asarray(x)) for x in gen.level1_start(lv, z, labels)]
      if run.kind == SAMPLE:
        y, state = p.generate[0](lv.params, gen.slice_stats(stats, s, c), p.put(z),
                                 p.put(labels), state)
        yield s, runtime.fetch(y)[:, :n]
      else:
        y, state = p.statistics[0](lv.params, c, p.put(z), p.put(labels), state)
        yield s, jax.tree.map(lambda x: runtime.fetch(x)[:n] if x.ndim else runtime.fetch(x),
                              y)

  def _over_chunks(self, run: LevelPlan, lower, call):
    """Yields (c, a, b, call(c, input frames [c, c + run.run))) for the chunks of ``run``
    in order, pulling their input from ``lower`` (the input video's frames in order, in
    pieces) and holding only the input frames the next chunk needs."""
    low = Frames()
    for c, a, b in run.chunks:
      while low.end < c + run.run:
        low.append(next(lower))
      low.drop_before(c)
      y = call(c, self.programs.put(low.get(c, c + run.run)))
      self.report(run.call_units)
      yield c, a, b, y

  def _made(self, k: int, runs, stats: list, zs, labels, made=None):
    """Level k's (index) video in order, piece by piece (host arrays) as ``runs[k]`` makes
    it, each also appended with its level to ``made``; the levels below are made as they
    are needed."""
    lv, run, p = self.levels[k], runs[k], self.programs
    assert stats_frames(stats[k]) == run.frames, (k, stats_frames(stats[k]), run.frames)
    if not lv.shapes.upsampling:
      pieces = (y for _, y in self._level1_pieces(run, stats[k], zs[k], labels))
    else:
      f = run.time_factor
      lower = self._made(k - 1, runs, stats, zs, labels, made)
      call = lambda c, low: p.generate[k](
          lv.params, gen.slice_stats(stats[k], c * f, run.run * f), p.put(zs[k]), low,
          p.put(labels))
      pieces = (runtime.fetch(y)[:, (a - c) * f:(b - c) * f]
                for c, a, b, y in self._over_chunks(run, lower, call))
    for y in pieces:
      if made is not None:
        made.append((k, y))
      yield y

  def stream(self, plan: SamplePlan, stats: list, zs, labels):
    """Every level's video made piece by piece: yields (k, frames) (level index, host
    array in [-1, 1]) in the order they are made: each level's frames in order, a lower
    level's before the top's frames that need them; of every level only what the next
    chunk above needs is held, so host memory does not grow with the top level's length."""
    made, top = [], len(self.levels) - 1
    for _ in self._made(top, plan.runs, stats, zs, labels, made=made):
      yield from made
      made.clear()

  def upsample(self, run: LevelPlan, stats, z, low: np.ndarray, labels) -> np.ndarray:
    """Level ``run.level`` over the whole input video ``low``, chunk by chunk (host
    arrays)."""
    k, p = run.level, self.programs
    lv, f = self.levels[k], run.time_factor
    call = lambda c, x: p.generate[k](lv.params, gen.slice_stats(stats, c * f, run.run * f),
                                      p.put(z), x, p.put(labels))
    return np.concatenate([runtime.fetch(y)[:, (a - c) * f:(b - c) * f] for c, a, b, y in
                           self._over_chunks(run, iter([low]), call)], 1)

  # Standing statistics.

  def pass_statistics(self, dummy: StatsPass, zs, labels, lower_stats) -> object:
    """Level ``dummy.level``'s per-frame batch statistics of one pass (host arrays), the
    levels below run with ``lower_stats``."""
    k, run, p = dummy.level, dummy.runs[-1], self.programs
    lv, length = self.levels[k], dummy.frames
    full = None

    def put(a, b, s):
      nonlocal full
      if full is None:
        full = jax.tree.map(lambda x: np.zeros((length,) + x.shape[1:], x.dtype)
                            if x.ndim else x, s)
      for dst, src in zip(jax.tree.leaves(full), jax.tree.leaves(s)):
        if src.ndim:
          dst[a:b] = src

    if not lv.shapes.upsampling:
      for s, st in self._level1_pieces(run, None, zs[0], labels):
        put(s, min(s + run.chunk, length), st)
      return full
    f = run.time_factor
    lower = self._made(k - 1, dummy.runs[:-1], lower_stats, zs, labels)
    call = lambda c, low: p.statistics[k](lv.params, run.run * f, p.put(zs[k]), low,
                                          p.put(labels))
    for c, a, b, s in self._over_chunks(run, lower, call):
      put(a * f, b * f, jax.tree.map(
          lambda x: runtime.fetch(x)[(a - c) * f:(b - c) * f] if x.ndim else runtime.fetch(x),
          s))
    return full

  def standing_statistics(self, plan: StatsPlan, key, sigma: float = 1.0) -> list:
    """Every level's standing statistics as ``plan`` says (device arrays), the noise of
    pass p from ``fold_in(key, p)``."""
    place = self.programs.place

    def passes_at(dummy: StatsPass, below: list):
      k, total = dummy.level, None
      for i in range(plan.passes):
        k_z, k_y = jax.random.split(jax.random.fold_in(key, i))
        zs = gen.noise(k_z, self.levels[:k + 1], plan.batch, sigma)
        s = self.pass_statistics(dummy, zs, random_labels(k_y, self.levels[k], plan.batch),
                                 below)
        total = s if total is None else jax.tree.map(np.add, total, s)
      return jax.tree.map(lambda x: x / plan.passes if x.ndim
                          else np.asarray(plan.passes, x.dtype), total)

    short = plan.window_lengths
    stats, below = [], []  # below: at the short video's lengths
    for k, (lv, dummy) in enumerate(zip(self.levels, plan.levels)):
      if short and k:  # the short video's passes (the levels above need them)
        s = passes_at(dummy, below)
        below.append(place(s))
        stats.append(place(stretched(s, plan.lengths[k], plan.reach[k]))
                     if dummy.keep else lv.stats)
        continue
      stats.append(lv.stats if dummy is None else place(passes_at(dummy, stats)))
      if short:
        below.append(gen.slice_stats(stats[-1], 0, short[k]))
    return stats
