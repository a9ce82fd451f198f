"""The memory figure (HVG Figure 5): an upsampling level's update does not grow with the
lower levels' video length, and the figure's configs, table and plot."""

import importlib.util
import json

import jax
import pytest

from conftest import CONFIG_DIR, REPO
from hvg_jax import config_lib, programs, runtime

_spec = importlib.util.spec_from_file_location("memory_vs_length",
                                               REPO / "benchmarks" / "memory_vs_length.py")
memory_vs_length = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(memory_vs_length)


def _lowered(level1_frames):
  """The demo's tiny level 2 over a level 1 of ``level1_frames`` frames, lowered on shapes."""
  level1, level2 = config_lib.chain_levels(
      config_lib.load_config(CONFIG_DIR / "demo.py", "runlocal"))
  level1.data.frames = level1_frames
  level2.data.update(frames=2 * level1_frames)
  level2.model.input.frames = level1_frames
  config_lib.check_levels([level1, level2])
  mesh = runtime.make_mesh(jax.devices()[:1])
  train_step, (state, batch, lower) = programs.training_program(level2, [level1], mesh,
                                                                 abstract=True)
  return (train_step.lower(state, batch, lower).as_text(),
          train_step.inputs.lower(lower, state.step).as_text())


@pytest.mark.slow
def test_the_update_is_the_same_program_whatever_the_lower_video_length():
  update_short, inputs_short = _lowered(8)
  update_long, inputs_long = _lowered(64)
  # The frozen level 1 runs in the inputs program, whose work grows with its video; the
  # update only sees fixed-size windows: the same program, so the same memory.
  assert inputs_short != inputs_long
  assert update_short == update_long


def test_figure_configs():
  configs = memory_vs_length.figure_configs(48, 2, "bfloat16")
  level1, level2, one_level = (configs[m][0] for m in ("level1", "level2", "one_level"))
  assert configs["level2"][1] == [level1]
  s1, s2, s_one = (config_lib.level_shapes(c) for c in (level1, level2, one_level))
  assert (s1.resolution, s1.train_frames) == (64, 24)
  assert (s2.resolution, s2.input_resolution, s2.input_train_frames, s2.train_frames,
          s2.input_video_frames, s2.video_frames) == (128, 64, 6, 12, 24, 48)
  assert (s_one.resolution, s_one.train_frames) == (128, 48)
  assert {c.train.batch_size for c in (level1, level2, one_level)} == {2}
  assert {c.model.dtype for c in (level1, level2, one_level)} == {"bfloat16"}
  with pytest.raises(ValueError, match="multiple of 4"):
    memory_vs_length.figure_configs(26, 1, "float32")


def _point(model, frames, training_gib, inputs_gib=None):
  programs = [{"total": int(training_gib * 2 ** 30)}]
  if inputs_gib is not None:
    programs.insert(0, {"total": int(inputs_gib * 2 ** 30)})
  return {"model": model, "total_frames": frames, "batch_per_device": 1, "dtype": "float32",
          "device": "cpu", "memory_bytes_per_program": programs, "compile_s": 1.0}


def test_table_plot_and_frames_reached(tmp_path):
  points = []
  for t in (24, 48, 96):
    points.append(_point("level1", t, 2 + 0.1 * t))
    points.append(_point("level2", t, 10.0, 1 + 0.01 * t))
    points.append(_point("one_level", t, 4 + 0.4 * t))
  text = memory_vs_length.write_outputs(points, tmp_path, budget_gib=32)
  assert "| HVG level 1 (T/2 frames at 64x64) | 4.40 GiB | 6.80 GiB | 11.60 GiB |" in text
  assert "| HVG level 2 (6 -> 12 frame windows at 128x128) | 10.00 GiB | 10.00 GiB |" in text
  assert "1.24 GiB | 1.48 GiB | 1.96 GiB |" in text  # the inputs program's row
  # Lines through the points: (32 - 2) / 0.1 = 300 frames; (32 - 4) / 0.4 = 70.
  assert "level 1 reaches 300 frames of output, the one-level model 70 (4.29x)" in text
  assert "Level 2: 10.000 to 10.000 GiB" in text
  assert (tmp_path / "memory.png").stat().st_size > 1000
  assert len(json.loads((tmp_path / "memory.json").read_text())) == 9
  assert (tmp_path / "memory.md").read_text() == text
