"""The sampling plan alone: chunk lengths within the budget, the work counted and errors
as facts, from a fake device (no level is built, nothing compiles)."""

import pytest

from hvg_jax.chain import generate as gen
from hvg_jax.chain import plan as plan_lib
from hvg_jax.chain.plan import SAMPLE, STATS, LevelGeometry, Planner, SamplingError


def ssw_geometry(**changes):
  """SSW-GAN's tiny chain's levels (as tests/test_chain.py's ssw_levels): 25/8 px ->
  50/16 px -> 100/32 px, windows of 6 input frames, radius 6 at 2x (margin 3)."""
  levels = [LevelGeometry(upsampling=False, time_factor=1, unit=25, margin=0, radius=0,
                          resolution=8, stored_frames=25, video_frames=25),
            LevelGeometry(upsampling=True, time_factor=2, unit=6, margin=2, radius=4,
                          resolution=16, stored_frames=50, video_frames=50),
            LevelGeometry(upsampling=True, time_factor=2, unit=6, margin=3, radius=6,
                          resolution=32, stored_frames=100, video_frames=100)]
  return [levels[0], levels[1], LevelGeometry(**{**levels[2].__dict__, **changes})]


class FakeDevice:
  """Programs of ``fixed`` bytes plus ``per_frame`` per input frame and video; counts what
  it is asked."""

  def __init__(self, fixed=1000, per_frame=100):
    self.fixed, self.per_frame, self.asked, self.agreed = fixed, per_frame, [], []

  def memory(self, k, kind, batch, run):
    self.asked.append((k, kind, batch, run))
    return self.fixed + self.per_frame * batch * run

  def agree(self, value):
    self.agreed.append(value)
    return value


def test_chunks_double_from_the_window_while_the_program_fits_the_budget():
  device = FakeDevice()
  one_window = device.memory(2, SAMPLE, 2, 6 + 2 * 3)  # 3400 bytes
  device.asked.clear()
  planner = Planner(ssw_geometry(), int(2.5 * one_window), device)
  chunk = planner.chunk(2, SAMPLE, 2, 8 * 6)
  assert chunk == 24 and planner.memory(2, SAMPLE, 2, chunk + 6) <= planner.budget
  assert planner.memory(2, SAMPLE, 2, 2 * chunk + 6) > planner.budget
  assert chunk == planner.chunk(2, SAMPLE, 2, 16 * 6)  # whatever the length
  asked = len(device.asked)
  assert planner.chunk(2, SAMPLE, 2, 8 * 6) == chunk and len(device.asked) == asked  # kept
  assert device.agreed == [chunk, chunk]  # each chosen once, as every process has it
  # With the memory for it, a short video is one chunk; one no longer than the window
  # is never measured.
  assert Planner(ssw_geometry(), 2**40, FakeDevice()).chunk(2, SAMPLE, 2, 4 * 6) == 24
  device = FakeDevice()
  assert Planner(ssw_geometry(), 1, device).chunk(2, SAMPLE, 2, 5) == 5 and not device.asked
  # Over the budget even at the window: the window, with a warning.
  assert Planner(ssw_geometry(), 1, FakeDevice()).chunk(2, STATS, 2, 40) == 6


def test_a_sample_plan_is_every_levels_chunks_and_the_work_it_counts():
  device = FakeDevice()
  planner = Planner(ssw_geometry(), 1, device)  # a budget of 1 byte: training windows
  plan = planner.sample([24, 48, 96], batch=2)
  level1, level2, level3 = plan.runs
  assert (level1.chunk, level1.run) == (24, 24) and level1.chunks == ((0, 0, 24),)
  assert (level2.chunk, level2.run) == (6, 10)
  run, chunks = gen.chunks(48, 6, 3)
  assert (level3.chunk, level3.run, level3.chunks) == (6, run, tuple(chunks))
  assert level3.memory == device.memory(*level3.program) and level1.memory is None
  # Progress in frames of the top level's size: a level-2 frame is a quarter of one.
  assert level2.call_units == 2 * 10 * 2 / 4
  assert len(level2.chunks) == 4 and len(level3.chunks) == 8
  assert plan.units == pytest.approx(2 * 24 / 16 + 4 * (2 * 10 * 2 / 4) + 8 * (2 * 12 * 2))
  # Level 1 in pieces of its 25 stored frames, the last one cut.
  pieces = planner.level_run(0, SAMPLE, 3, 60)
  assert pieces.chunks == ((0, 0, 25), (25, 25, 50), (50, 50, 60)) and pieces.run == 25
  # The most device memory a request needs: its largest program.
  assert plan_lib.device_memory(plan, device) == max(
      device.memory(*r.program) for r in plan.runs)


def test_a_statistics_plan_runs_only_what_is_recomputed_and_counts_every_pass():
  planner = Planner(ssw_geometry(), 1, FakeDevice())
  assert planner.reach == [0, 4, 14]
  stored = planner.statistics([25, 50, 100], passes=2, batch=2)
  assert stored.todo == () and stored.units == 0
  plan = planner.statistics([24, 48, 96], passes=3, batch=2)
  assert plan.todo == (0, 1, 2) and plan.window_lengths is None
  top = plan.levels[2]
  assert [(r.level, r.kind, r.frames) for r in top.runs] == [
      (0, SAMPLE, 24), (1, SAMPLE, 48), (2, STATS, 96)]
  assert plan.units == pytest.approx(3 * sum(p.units for p in plan.levels))
  # A window: the upsamplers' passes over its video (level 1's over the whole length).
  windowed = planner.statistics([24, 48, 96], passes=3, batch=2, window=48)
  assert windowed.window_lengths == (12, 24, 48)
  assert [p.frames for p in windowed.levels] == [24, 24, 48]
  assert windowed.units < 0.7 * plan.units
  # Only level 3 recomputed: the window's passes of level 2 run for it, not kept.
  only_top = planner.statistics([25, 50, 100], passes=1, batch=2, recompute=[2], window=48)
  assert only_top.todo == (2,) and only_top.levels[0] is None
  assert not only_top.levels[1].keep and only_top.levels[1].frames == 24


def test_settings_out_of_range_are_facts_each_caller_names_its_way():
  planner = Planner(ssw_geometry(), 1, FakeDevice())
  with pytest.raises(SamplingError) as e:
    planner.lengths(50)
  assert (e.value.setting, e.value.value, e.value.suggested) == ("frames", 50, (48, 52))
  assert e.value.message("--frames") == (
      "--frames=50: level 3 outputs 4 frames for every level-1 frame, so the number of "
      "frames must be a positive multiple of 4 (e.g. 48 or 52)")
  assert str(e.value).startswith("frames=50: level 3 outputs")
  for frames, nearest in ((-5, (4,)), (0, (4,)), (3, (4,))):  # only lengths that work
    with pytest.raises(SamplingError) as e:
      planner.lengths(frames)
    assert e.value.suggested == nearest and "(e.g. 4)" in str(e.value)
  with pytest.raises(SamplingError) as e:
    planner.statistics([24, 48, 96], passes=1, batch=2, window=50)
  assert e.value.setting == "window" and e.value.message("--standing_window").startswith(
      "--standing_window=50: level 3 outputs 4 frames")
  with pytest.raises(SamplingError) as e:
    planner.statistics([24, 48, 96], passes=1, batch=2, window=24)
  assert (e.value.setting, e.value.value, e.value.suggested) == ("window", 24, (29, 0))
  assert e.value.message("--standing_window") == (
      "--standing_window=24: the statistics of level 3's last 14 frames depend on the "
      "video's end, so its window (24 frames) must be more than twice that: at least 29 "
      "frames (a multiple of the frames per level-1 frame), or 0")
  with pytest.raises(SamplingError, match="passes=0: must be at least 1"):
    planner.statistics([24, 48, 96], passes=0, batch=2)
  settings = dict(num_classes=0, label=None, num_videos=1, passes=1, batch=1, window=0)
  with pytest.raises(SamplingError) as e:
    plan_lib.check_settings(**dict(settings, label=3))
  assert e.value.message("--label") == "--label: the chain is unconditional; leave it out"
  with pytest.raises(SamplingError) as e:
    plan_lib.check_settings(**dict(settings, label=3, num_classes=3))
  assert e.value.message("--label") == "--label=3: the chain has classes 0..2"
  assert e.value.suggested == (0, 1, 2)
  with pytest.raises(SamplingError) as e:
    plan_lib.check_settings(**dict(settings, window=-1))
  assert e.value.message("--standing_window") == "--standing_window=-1: must be at least 0"


def test_the_sample_command_names_its_flags():
  from hvg_jax import sample  # pylint: disable=import-outside-toplevel
  for setting, flag in (("frames", "--frames"), ("window", "--standing_window"),
                        ("passes", "--standing_passes"), ("batch", "--standing_batch"),
                        ("num_videos", "--num_videos"), ("label", "--label")):
    error = sample.in_flags(SamplingError(setting, 0, "must be at least 1"))
    assert str(error) == f"{flag}=0: must be at least 1"


def test_a_video_too_long_for_the_memory_is_refused_before_anything_runs(monkeypatch):
  """A request whose standing statistics cannot fit is one error naming the longest video
  that does (not the out-of-memory killer), and that length is accepted."""
  from flax import nnx  # pylint: disable=import-outside-toplevel
  from conftest import CONFIG_DIR  # pylint: disable=import-outside-toplevel
  from hvg_jax import config_lib, models, runtime  # pylint: disable=import-outside-toplevel
  from hvg_jax import level as level_lib  # pylint: disable=import-outside-toplevel
  from hvg_jax.chain import sampler  # pylint: disable=import-outside-toplevel
  levels = []
  for name in ("demo_level1", "demo_level2"):  # untrained: only the statistics' shapes count
    config = config_lib.load_config(CONFIG_DIR / f"{name}.py", "runlocal")
    graphdef, state = nnx.split(models.build_generator(config, rngs=nnx.Rngs(0)))
    levels.append(level_lib.frozen_level(config, graphdef, state, name))
  monkeypatch.setattr(runtime, "available_host_memory", lambda: 1 << 30)  # 1 GiB
  per_frame = sampler.statistics_bytes(levels, [1, 2]) / 2
  with pytest.raises(SamplingError) as e:
    sampler.sample_chain(levels, frames=1_000_000_000, progress=False)
  (longest,) = e.value.suggested
  assert e.value.setting == "frames" and longest % 2 == 0
  assert 2 * per_frame * longest <= 0.5 * (1 << 30) < 2 * per_frame * (longest + 2)
  assert e.value.message("--frames").startswith(
      "--frames=1000000000: the standing statistics of 1000000000 frames need")
  assert f"at most {longest} frames fit" in str(e.value)
  sampler.check_memory(levels, sampler.level_lengths(levels, longest))  # fits
