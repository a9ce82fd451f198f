"""Videos from a chain, made piece by piece: level 1 in pieces (its ConvGRU state carried
from one to the next), then each upsampler in chunks of the level below's video, each
level's frames made only as far as the level above needs them; the same for the dummy
passes of standing statistics. Host and device memory do not grow with the length.

A job is planned first (:mod:`hvg_jax.chain.plan`: every level's length, the chunk lengths
within a device-memory budget, ``chunk_memory``, and the work the progress bar counts), then
run (:mod:`hvg_jax.chain.runner`). Chunk lengths do not change the videos: a level-1 video
made in pieces is the video made at once, and an upsampler's chunks overlap by its margins.

Standing statistics for lengths other than the stored ones are recomputed first
(``standing_statistics``), level by level: the papers' dummy passes over the whole length,
or for upsamplers with ``window`` over a ``window``-frame video, whose statistics are
stretched to the length: its first and last frames kept, the mean of its middle frames
between (the demo chain's are the same from frame 128 to the last few; RESULTS.md).

Settings out of range are :class:`hvg_jax.chain.plan.SamplingError`: facts that each
caller words in its own terms (the sample command names its flags).
"""

import contextlib
import copy
import functools

import jax
import numpy as np

from hvg_jax import runtime
from hvg_jax.chain import generate as gen
from hvg_jax.chain import plan as plan_lib
from hvg_jax.chain import stats_cache
from hvg_jax.chain.plan import SAMPLE
from hvg_jax.chain.progress import Progress
from hvg_jax.chain.runner import Programs, Runner, random_labels  # noqa: F401 (experiments')
from hvg_jax.level import FrozenLevel, stats_frames

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


def level_lengths(levels: list[FrozenLevel], top_frames: int | None = None) -> list[int]:
  """Frames of every level's video when the top level outputs ``top_frames`` (default:
  its whole training video); a length the chain cannot reach is a SamplingError of
  "frames"."""
  factors = [lv.shapes.time_factor if lv.shapes.upsampling else 1 for lv in levels]
  if top_frames is None:
    top_frames = levels[-1].shapes.video_frames
  return plan_lib.lengths_for(factors, top_frames)


class ChainSampler:
  """Samples a chain's videos; the compiled functions are kept between calls.

  With a ``mesh``, the videos of a batch are split over its ``data`` axis (the levels'
  weights should be replicated on it), so BatchNorm statistics are the whole batch's.
  ``progress``: whether to show a job's progress bar, or a :class:`Progress` to report to.
  ``chunk_memory``: the device bytes a piece's or chunk's program may use (default:
  :func:`chunk_memory_budget`).
  """

  def __init__(self, levels: list[FrozenLevel], *, mesh=None, progress=True,
               chunk_memory: int | None = None):
    self.levels = levels
    self.mesh = mesh
    self.progress = progress if isinstance(progress, Progress) else Progress(progress)
    self.chunk_memory = chunk_memory_budget() if chunk_memory is None else chunk_memory
    self.programs = Programs(levels, mesh)
    self.planner = plan_lib.Planner([plan_lib.LevelGeometry.of(lv) for lv in levels],
                                    self.chunk_memory, self.programs)
    self.runner = Runner(levels, self.programs, self.progress.update)

  def for_levels(self, levels: list[FrozenLevel]) -> "ChainSampler":
    """A sampler of ``levels``; when they are the same networks as this one's (graphdefs,
    configs, statistics layout), e.g. a level in training at a later step, it shares this
    one's compiled functions and plans: new weights are new arguments, not a new trace."""
    same = len(levels) == len(self.levels) and all(
        a.graphdef == b.graphdef and a.config == b.config
        and jax.tree.structure(a.stats) == jax.tree.structure(b.stats)
        for a, b in zip(levels, self.levels))
    if not same:
      return ChainSampler(levels, mesh=self.mesh, progress=self.progress,
                          chunk_memory=self.chunk_memory)
    other = copy.copy(self)
    other.levels = levels
    other.runner = Runner(levels, self.programs, self.progress.update)
    return other

  def place(self, stats):
    """Host statistics as device arrays: replicated over the mesh (every process holds the
    same values), or on the default device."""
    return self.programs.place(stats)

  # Plans.

  def memory(self, k: int, kind: str, batch: int, run: int) -> int:
    """Device bytes of level k's (index) program (kind "sample" or "stats") on ``run``
    input frames (level 1: output frames), compiled (measured once)."""
    return self.planner.memory(k, kind, batch, run)

  def chunk(self, k: int, kind: str, batch: int, frames: int) -> int:
    """Input frames per chunk of level k (index; level 1: frames per piece) on a video
    whose input has ``frames`` frames (see :meth:`hvg_jax.chain.plan.Planner.chunk`)."""
    return self.planner.chunk(k, kind, batch, frames)

  def end_reach(self, k: int) -> int:
    """Frames at the end of level k's (index) video whose statistics its end changes: its
    temporal radius, plus what the end of the level below changes, upsampled (level 1 is
    causal: none)."""
    return self.planner.reach[k]

  def plan_sample(self, lengths: list[int], batch: int) -> plan_lib.SamplePlan:
    """The plan of :meth:`stream` of ``batch`` videos at ``lengths``."""
    return self.planner.sample(lengths, batch)

  def plan_statistics(self, lengths: list[int], *, passes: int, batch: int, recompute=(),
                      window: int = 0) -> plan_lib.StatsPlan:
    """The plan of :meth:`standing_statistics` (its settings but the noise's)."""
    return self.planner.statistics(lengths, passes=passes, batch=batch, recompute=recompute,
                                   window=window)

  def job(self, work: float, desc: str, add: bool = False):
    """A progress bar over ``work`` units (see :meth:`Progress.job`)."""
    return self.progress.job(work, desc, add)

  # Making videos.

  def stream(self, stats: list, zs, labels):
    """Every level's video made piece by piece: yields (k, frames) (level index, host
    array in [-1, 1]) in the order they are made (see :meth:`Runner.stream`)."""
    plan = self.plan_sample([stats_frames(s) for s in stats], zs[0].shape[0])
    yield from self.runner.stream(plan, stats, zs, labels)

  def videos(self, stats: list, zs, labels) -> list[np.ndarray]:
    """Every level's whole video (host arrays in [-1, 1]): :meth:`stream`'s pieces."""
    plan = self.plan_sample([stats_frames(s) for s in stats], zs[0].shape[0])
    pieces = [[] for _ in self.levels]
    with self.job(plan.units, "videos"):
      for k, y in self.runner.stream(plan, stats, zs, labels):
        pieces[k].append(y)
    return [np.concatenate(p, 1) for p in pieces]

  def upsample(self, k: int, stats, z, low: np.ndarray, labels) -> np.ndarray:
    """Level k (index) over the whole input video ``low``, chunk by chunk (host arrays)."""
    run = self.planner.level_run(k, SAMPLE, low.shape[0],
                                 low.shape[1] * self.planner.levels[k].time_factor)
    return self.runner.upsample(run, stats, z, low, labels)

  # Standing statistics.

  def pass_statistics(self, k: int, length: int, zs, labels, lower_stats):
    """Level k's (index) per-frame batch statistics of one pass over ``length`` frames
    (host arrays), the levels below run with ``lower_stats``."""
    dummy = self.planner.statistics_pass(
        k, length, [stats_frames(s) for s in lower_stats[:k]], zs[k].shape[0])
    return self.runner.pass_statistics(dummy, zs, labels, lower_stats)

  def standing_statistics(self, lengths: list[int], *, passes: int, batch: int, key,
                          sigma: float = 1.0, recompute=(), window: int = 0) -> list:
    """Standing statistics for every level at ``lengths``: the stored ones where the
    length is the stored one (unless its index is in ``recompute``), else the mean over
    ``passes`` dummy passes of ``batch`` videos (levels in order: each pass of level k
    runs the levels below with theirs).

    With ``window`` (top-level frames) shorter than the video, the upsamplers' passes
    run on a ``window``-frame video instead, whose statistics are stretched to the length
    (:func:`hvg_jax.chain.runner.stretched`); level 1's passes still run the whole length
    (it is causal: its first frames' statistics are the short video's).
    """
    plan = self.plan_statistics(lengths, passes=passes, batch=batch, recompute=recompute,
                                window=window)
    if not plan.todo:
      return [lv.stats for lv in self.levels]
    with self.job(plan.units, "standing statistics", add=True):
      return self.runner.standing_statistics(plan, key, sigma)


def uses_window(levels, lengths: list[int], window: int) -> bool:
  """Whether upsamplers' standing statistics at ``lengths`` come from a ``window``-frame
  video (see :meth:`ChainSampler.standing_statistics`)."""
  return plan_lib.uses_window(len(levels), lengths, window)


def statistics_bytes(levels: list[FrozenLevel], lengths: list[int]) -> int:
  """Bytes of every level's standing statistics for videos of ``lengths`` frames (one
  value per timestep of each statistic)."""
  return sum(x.dtype.itemsize * int(np.prod(x.shape[1:])) * t
             for lv, t in zip(levels, lengths) for x in jax.tree.leaves(lv.stats) if x.ndim)


# A request may take this share of the memory available: the rest is for the programs,
# the videos in flight and whatever else runs on the machine.
MEMORY_SHARE = 0.5


def check_memory(levels: list[FrozenLevel], lengths: list[int]):
  """A SamplingError of "frames", before anything runs, when the standing statistics of
  videos of ``lengths`` frames cannot fit: held on the host and on the device (on a CPU
  both are the host's memory), they grow with the length while everything else does not.
  The error names the longest video that fits."""
  per_video = statistics_bytes(levels, lengths)
  device = jax.local_devices()[0]
  on_cpu = device.platform == "cpu"
  budgets = [(runtime.available_host_memory(), 2 if on_cpu else 1, "host memory")]
  stats = {} if on_cpu else (device.memory_stats() or {})
  if "bytes_limit" in stats:
    budgets.append((stats["bytes_limit"] - stats.get("bytes_in_use", 0), 1,
                    f"{device.platform.upper()} memory"))
  top = lengths[-1]
  factor = top // lengths[0] if lengths[0] else 1
  for available, copies, what in budgets:
    need = copies * per_video
    if need <= MEMORY_SHARE * available:
      continue
    longest = int(MEMORY_SHARE * available / (copies * per_video) * top) // factor * factor
    gib = 2.0**30
    raise plan_lib.SamplingError(
        "frames", top,
        f"the standing statistics of {top} frames need {need / gib:.1f} GiB of {what} "
        f"({copies * per_video / top / 2**10:.1f} KiB per frame), more than "
        f"{MEMORY_SHARE:.0%} of the {available / gib:.1f} GiB available here: at most "
        f"{longest} frames fit" if longest >= factor else
        f"not even {factor} frames fit in the {available / gib:.1f} GiB available here",
        (longest,) if longest >= factor else ())


def _prepared(levels, *, frames=None, num_videos=8, sigma=1.0, seed=0, label=None,
              passes=None, batch=None, mesh=None, progress=True, cache_dir=None,
              window=None, chunk_memory=None):
  """(sampler, every level's length, a function that returns the standing statistics,
  noise, labels) of a sampling job, its settings checked; recomputed standing statistics
  are kept in (and taken from) ``cache_dir``."""
  top = levels[-1].config
  lengths = level_lengths(levels, frames)
  check_memory(levels, lengths)
  num_classes = levels[0].shapes.num_classes
  passes = top.sample.standing_passes if passes is None else passes
  batch = top.sample.standing_batch if batch is None else batch
  window = top.sample.standing_window if window is None else window
  plan_lib.check_settings(num_classes=num_classes, label=label, num_videos=num_videos,
                          passes=passes, batch=batch, window=window)
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
        cache_dir, levels, setting), levels, compute, sampler.place, lengths)
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
  job.enter_context(sampler.job(sampler.plan_sample(lengths, zs[0].shape[0]).units,
                                "sampling"))
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

