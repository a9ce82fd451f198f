"""The plan of a sampling job, computed before anything runs: every level's length, the
chunk lengths within the device-memory budget, and the work to count for the progress
bar, as plain data. Pure given the memory of a compiled program (a :class:`Device`), so
it is tested without compiling; :mod:`hvg_jax.chain.runner` executes it.

Chunk lengths are the largest (doubling from the level's training window) whose program
fits the budget: every chunk recomputes its margins and every call has its overhead. They
do not change the videos (see :mod:`hvg_jax.chain.generate`).

Settings out of range are a :class:`SamplingError` that carries the facts (the setting,
its value, valid values to suggest); each caller names the setting its own way (the sample
command its flags, the trainer its config fields).
"""

import dataclasses
from collections.abc import Sequence
from typing import Protocol

import numpy as np
from absl import logging

from hvg_jax.chain import generate as gen
from hvg_jax.level import ChainError

SAMPLE, STATS = "sample", "stats"  # the kinds of a level's program: frames, or statistics


class SamplingError(ChainError):
  """A sampling setting out of range, as facts: ``setting`` (the plan's name for it:
  frames, window, label, num_videos, passes, batch), its ``value`` (None: the setting has
  no valid value here, leave it out), ``reason`` (what is wrong and what is right, naming
  no flag or field) and ``suggested`` valid values. The message names the setting as the
  plan does; a caller names it its own way with :meth:`message`."""

  def __init__(self, setting: str, value, reason: str, suggested: Sequence = ()):
    self.setting, self.value, self.reason = setting, value, reason
    self.suggested = tuple(suggested)
    super().__init__(self.message())

  def __reduce__(self):  # pickled with its facts, not its message
    return type(self), (self.setting, self.value, self.reason, self.suggested)

  def message(self, name: str | None = None) -> str:
    """The message with the setting called ``name`` (default: the plan's name)."""
    name = self.setting if name is None else name
    if self.value is None:
      return f"{name}: {self.reason}"
    return f"{name}={self.value}: {self.reason}"


def lengths_for(factors: Sequence[int], top_frames: int, setting: str = "frames") -> list[int]:
  """Frames of every level's video when the top level outputs ``top_frames``, given each
  level's output frames per input frame (``factors``, level 1's 1); a length the chain
  cannot reach is a :class:`SamplingError` of ``setting``."""
  total = int(np.prod(factors))
  if top_frames < 1 or top_frames % total:
    # The valid lengths either side (positive ones only: -5 suggests 2, not -4).
    nearest = sorted({total * max(1, top_frames // total),
                      total * max(1, top_frames // total + 1)})
    why = ("the number of frames must be positive" if total == 1 else
           f"level {len(factors)} outputs {total} frames for every level-1 frame, so the "
           f"number of frames must be a positive multiple of {total}")
    raise SamplingError(setting, top_frames,
                        f"{why} (e.g. {' or '.join(map(str, nearest))})", nearest)
  lengths = [top_frames]
  for f in reversed(factors[1:]):
    lengths.insert(0, lengths[0] // f)
  return lengths


def uses_window(num_levels: int, lengths: Sequence[int], window: int) -> bool:
  """Whether upsamplers' standing statistics at ``lengths`` come from a ``window``-frame
  video (see :meth:`Planner.statistics`)."""
  return bool(window) and lengths[-1] > window and num_levels > 1


def check_settings(*, num_classes: int, label: int | None, num_videos: int, passes: int,
                   batch: int, window: int):
  """A :class:`SamplingError` for the first setting of a sampling job out of range."""
  if label is not None and (not num_classes or not 0 <= label < num_classes):
    if not num_classes:
      raise SamplingError("label", None, "the chain is unconditional; leave it out")
    raise SamplingError("label", label, f"the chain has classes 0..{num_classes - 1}",
                        range(num_classes))
  for setting, value, least in (("num_videos", num_videos, 1), ("passes", passes, 1),
                                ("batch", batch, 1), ("window", window, 0)):
    if value < least:
      raise SamplingError(setting, value, f"must be at least {least}", (least,))


@dataclasses.dataclass(frozen=True)
class LevelGeometry:
  """What a plan needs of a level."""
  upsampling: bool
  time_factor: int  # output frames per input frame (level 1: 1)
  unit: int  # input frames of the shortest chunk: the training window (level 1: its
  # stored statistics' frames)
  margin: int  # input frames a chunk runs beyond its output on each cut side (level 1: 0)
  radius: int  # output frames on each side that an output frame depends on (level 1: 0)
  resolution: int
  stored_frames: int  # frames of its stored standing statistics
  video_frames: int  # frames of its training video

  @classmethod
  def of(cls, level) -> "LevelGeometry":
    s = level.shapes
    up = s.upsampling
    return cls(upsampling=up, time_factor=s.time_factor if up else 1,
               unit=s.input_train_frames if up else level.stats_frames,
               margin=gen.input_margin(level) if up else 0,
               radius=gen.temporal_radius(level) if up else 0, resolution=s.resolution,
               stored_frames=level.stats_frames, video_frames=s.video_frames)


class Device(Protocol):
  """What a plan asks of the device (:class:`hvg_jax.chain.runner.Programs`; a fake in
  tests)."""

  def memory(self, k: int, kind: str, batch: int, run: int) -> int:
    """Device bytes of level k's (index) program of ``kind`` on ``run`` input frames."""

  def agree(self, value: int) -> int:
    """``value`` as one process has it, on every process (plans must be the same)."""


@dataclasses.dataclass(frozen=True)
class LevelPlan:
  """One level's video of ``frames`` frames made in calls of one program: level 1 piece
  by piece (its state carried), an upsampler chunk by chunk of its input."""
  level: int  # index
  kind: str  # SAMPLE or STATS
  batch: int
  frames: int  # output frames of the whole video
  chunk: int  # input frames each call outputs (level 1: frames per piece)
  run: int  # input frames each call runs: the chunk and its margins
  time_factor: int
  chunks: tuple[tuple[int, int, int], ...]  # (c, a, b): run inputs [c, c + run) for the
  # output of inputs [a, b)
  call_units: float  # progress units of each call
  memory: int | None  # device bytes of the program, if the plan measured it (a video no
  # longer than one chunk is not measured)

  @property
  def units(self) -> float:
    return self.call_units * len(self.chunks)

  @property
  def program(self) -> tuple[int, str, int, int]:
    """(level index, kind, batch, input frames): the program every call runs."""
    return self.level, self.kind, self.batch, self.run


@dataclasses.dataclass(frozen=True)
class SamplePlan:
  """Every level's video of ``batch`` videos at ``lengths``: ``runs[k]`` makes level k's."""
  lengths: tuple[int, ...]
  batch: int
  runs: tuple[LevelPlan, ...]

  @property
  def units(self) -> float:
    return sum(r.units for r in self.runs)


@dataclasses.dataclass(frozen=True)
class StatsPass:
  """One dummy pass of ``level`` (index) over ``frames`` frames: ``runs`` make the levels
  below (in order) and then its own statistics. ``keep``: the passes' statistics are the
  level's (else only the levels above use them: a window's passes)."""
  level: int
  frames: int
  runs: tuple[LevelPlan, ...]
  keep: bool = True

  @property
  def units(self) -> float:
    return sum(r.units for r in self.runs)


@dataclasses.dataclass(frozen=True)
class StatsPlan:
  """Standing statistics at ``lengths``: ``levels[k]``, level k's passes (each ``passes``
  times over ``batch`` videos), or None where the stored statistics are kept. With
  ``window_lengths`` (every level's frames in a window's video), the upsamplers' passes run
  on that video and their statistics are stretched to the length, the last ``reach[k]``
  frames of level k kept at the end."""
  lengths: tuple[int, ...]
  passes: int
  batch: int
  levels: tuple[StatsPass | None, ...]
  window_lengths: tuple[int, ...] | None
  reach: tuple[int, ...]

  @property
  def todo(self) -> tuple[int, ...]:
    """Indices of the levels whose statistics are computed."""
    return tuple(k for k, p in enumerate(self.levels) if p is not None and p.keep)

  @property
  def units(self) -> float:
    return self.passes * sum(p.units for p in self.levels if p is not None)


def runs(plan: SamplePlan | StatsPlan) -> list[LevelPlan]:
  """Every level run of a plan."""
  if isinstance(plan, SamplePlan):
    return list(plan.runs)
  return [r for p in plan.levels if p is not None for r in p.runs]


def device_memory(plan: SamplePlan | StatsPlan, device: Device) -> int:
  """Device bytes of the plan's largest program (measured where the plan did not)."""
  return max((r.memory if r.memory is not None else device.memory(*r.program)
              for r in runs(plan)), default=0)


class Planner:
  """Plans the jobs of one chain (``levels``) under a budget of ``budget`` device bytes per
  program, measured through ``device``. Chunk lengths and measured memory are kept: plans
  of the same programs ask the device once."""

  def __init__(self, levels: Sequence[LevelGeometry], budget: int, device: Device):
    self.levels, self.budget, self.device = list(levels), budget, device
    self._chunks, self._memory = {}, {}
    self.reach = []  # frames at the end of each level's video whose statistics its end
    for g in self.levels:  # changes: its radius, plus the level below's upsampled
      self.reach.append(g.radius + g.time_factor * self.reach[-1] if g.upsampling else 0)

  def lengths(self, top_frames: int | None = None, setting: str = "frames") -> list[int]:
    """Every level's frames when the top outputs ``top_frames`` (default: its training
    video's); see :func:`lengths_for`."""
    if top_frames is None:
      top_frames = self.levels[-1].video_frames
    return lengths_for([g.time_factor for g in self.levels], top_frames, setting)

  def memory(self, k: int, kind: str, batch: int, run: int) -> int:
    key = (k, kind, batch, run)
    if key not in self._memory:
      self._memory[key] = self.device.memory(*key)
    return self._memory[key]

  def chunk(self, k: int, kind: str, batch: int, frames: int) -> int:
    """Input frames per chunk of level k (index; level 1: frames per piece) on a video
    whose input has ``frames`` frames: from the training window, doubled while the
    program's device memory (estimated from the training window's, then measured) fits
    the budget, at most the whole video."""
    key = (k, kind, batch, frames)
    if key in self._chunks:
      return self._chunks[key]
    g = self.levels[k]
    unit, margin = g.unit, g.margin
    run = lambda c: min(frames, c + 2 * margin)
    c = min(unit, frames)
    if c < frames:
      per_frame = self.memory(k, kind, batch, run(c)) / run(c)  # params included: high
      while c < frames and per_frame * run(min(2 * c, frames)) <= self.budget:
        c = min(2 * c, frames)
      while c > unit and self.memory(k, kind, batch, run(c)) > self.budget:
        c = max(unit, c // 2)
      if c == unit and self.memory(k, kind, batch, run(c)) > self.budget:
        logging.warning("Level %d's %s program on its training window takes more than "
                        "the chunk memory budget (%d MiB); running it anyway.", k + 1, kind,
                        self.budget >> 20)
    c = self.device.agree(c)
    self._chunks[key] = c
    return c

  def level_run(self, k: int, kind: str, batch: int, frames: int) -> LevelPlan:
    """Level k's (index) ``kind`` run over a video of ``frames`` output frames."""
    g, top = self.levels[k], self.levels[-1].resolution
    f = g.time_factor
    c = self.chunk(k, kind, batch, frames // f)
    if g.upsampling:
      run, chunks = gen.chunks(frames // f, c, g.margin)
    else:  # pieces of c frames, the last one cut
      run, chunks = c, [(s, s, min(s + c, frames)) for s in range(0, frames, c)]
    units = batch * (run * f) * g.resolution * g.resolution / (top * top)
    return LevelPlan(level=k, kind=kind, batch=batch, frames=frames, chunk=c, run=run,
                    time_factor=f, chunks=tuple(chunks), call_units=units,
                    memory=self._memory.get((k, kind, batch, run)))

  def _below(self, k: int, lengths: Sequence[int], batch: int) -> tuple[LevelPlan, ...]:
    """The runs of levels k, k - 1, ..., 1 (as they are pulled: the top's first), in
    level order."""
    return tuple(reversed([self.level_run(j, SAMPLE, batch, lengths[j])
                           for j in reversed(range(k + 1))]))

  def sample(self, lengths: Sequence[int], batch: int) -> SamplePlan:
    """Every level's video of ``batch`` videos at ``lengths``."""
    return SamplePlan(tuple(lengths), batch, self._below(len(lengths) - 1, lengths, batch))

  def statistics_pass(self, k: int, frames: int, lower_lengths: Sequence[int], batch: int,
                      keep: bool = True) -> StatsPass:
    """A dummy pass of level k (index) over ``frames`` frames, the levels below at
    ``lower_lengths``."""
    own = self.level_run(k, STATS, batch, frames)
    return StatsPass(k, frames, self._below(k - 1, lower_lengths, batch) + (own,), keep)

  def statistics(self, lengths: Sequence[int], *, passes: int, batch: int, recompute=(),
                 window: int = 0) -> StatsPlan:
    """Standing statistics for every level at ``lengths``: the stored ones where the
    length is the stored one (unless its index is in ``recompute``), else the mean over
    ``passes`` dummy passes of ``batch`` videos (each pass of level k runs the levels below
    with theirs).

    With ``window`` (top-level frames) shorter than the video, the upsamplers' passes
    run on a ``window``-frame video instead, whose statistics are stretched to the length;
    level 1's passes still run the whole length (it is causal: its first frames'
    statistics are the short video's).
    """
    for setting, value, least in (("passes", passes, 1), ("batch", batch, 1),
                                  ("window", window, 0)):
      if value < least:
        raise SamplingError(setting, value, f"must be at least {least}", (least,))
    n = len(self.levels)
    todo = [k for k, (g, m) in enumerate(zip(self.levels, lengths))
            if m != g.stored_frames or k in recompute]
    short = uses_window(n, lengths, window) and any(k in todo for k in range(1, n))
    short_lengths = None
    if short:
      short_lengths = self.lengths(window, setting="window")
      for k in range(1, n):
        reach = self.reach[k]
        if short_lengths[k] <= 2 * reach:
          least = (2 * reach + 1) * (lengths[-1] // lengths[k])
          raise SamplingError(
              "window", window,
              f"the statistics of level {k + 1}'s last {reach} frames depend on the video's "
              f"end, so its window ({short_lengths[k]} frames) must be more than twice "
              f"that: at least {least} frames (a multiple of the frames per level-1 frame), "
              "or 0", (least, 0))
    levels = []
    if todo:
      for k in range(n):
        if short and k:  # the short video's passes (the levels above need them)
          levels.append(self.statistics_pass(k, short_lengths[k], short_lengths[:k], batch,
                                             keep=k in todo))
        elif k in todo:
          levels.append(self.statistics_pass(k, lengths[k], lengths[:k], batch))
        else:
          levels.append(None)
    else:
      levels = [None] * n
    return StatsPlan(tuple(lengths), passes, batch, tuple(levels),
                     None if short_lengths is None else tuple(short_lengths), tuple(self.reach))
