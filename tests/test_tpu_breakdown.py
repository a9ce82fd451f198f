"""benchmarks/tpu_breakdown.py reads a TPU dump's HLO: estimated cycles and HBM bytes."""

import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "benchmarks"))
import tpu_breakdown  # noqa: E402

# The shape of an optimised TPU update's entry computation, cut down: two parameters, a
# fused convolution whose 96-channel result is stored as 128 lanes, a buffer placed in
# on-chip memory (S(1)), and the bitcast/tuple plumbing that moves no bytes.
_HLO = """\
%fused_computation.1 (p: bf16[2,8,8,96]) -> bf16[2,8,8,96] {
  %p = bf16[2,8,8,96]{3,2,1,0} parameter(0)
}

ENTRY %main (param.0: bf16[2,8,8,3], param.1: f32[3,3,3,96]) -> bf16[2,8,8,96] {
  %param.0 = bf16[2,8,8,3]{3,2,1,0:T(8,128)(2,1)} parameter(0)
  %param.1 = f32[3,3,3,96]{3,2,1,0:T(8,128)} parameter(1)
  %convert.1 = bf16[3,3,3,96]{3,2,1,0:T(8,128)(2,1)S(1)} convert(%param.1), metadata={op_name="jit(step)/convert_element_type"}
  %fusion.1 = bf16[2,8,8,96]{3,2,1,0:T(8,128)(2,1)} fusion(%param.0, %convert.1), kind=kOutput, calls=%fused_computation.1, metadata={op_name="jit(step)/jvp()/conv_general_dilated"}, backend_config={"estimated_cycles":"300"}
  %bitcast.1 = bf16[2,64,96]{2,1,0:T(8,128)(2,1)} bitcast(%fusion.1)
  ROOT %add.1 = bf16[2,8,8,96]{3,2,1,0:T(8,128)(2,1)} add(%fusion.1, %fusion.1), metadata={op_name="jit(step)/add"}, backend_config={"estimated_cycles":"100"}
}
"""


def test_array_bytes_pads_the_minor_dimensions_to_the_tile():
  # The (8,128) tile pads the two minor dimensions; (2,1) only packs pairs within it.
  assert tpu_breakdown.array_bytes("bf16", "2,8,5,96", "{3,2,1,0:T(8,128)(2,1)}") == (
      2 * 8 * 8 * 128 * 2, 2 * 8 * 5 * 96 * 2)
  # Dimension 0 minor: 3 rows of 4 stored as one 8 x 128 tile.
  assert tpu_breakdown.array_bytes("f32", "4,3", "{0,1:T(8,128)}") == (8 * 128 * 4, 48)
  assert tpu_breakdown.array_bytes("f32", "5", None) == (20, 20)
  assert tpu_breakdown.array_bytes("f32", "64,128", "{1,0:T(8,128)S(1)}") == (0, 0)


def test_bytes_are_added_up_over_the_entry_computations_instructions():
  rows = {r["name"]: r for r in tpu_breakdown.parse_bytes(_HLO)}
  assert set(rows) == {"convert.1", "fusion.1", "add.1"}  # no parameters, no bitcasts
  image = 2 * 8 * 8 * 128 * 2           # bf16[2,8,8,3] or [2,8,8,96], as tiled
  weights = 3 * 3 * 8 * 128 * 4         # f32[3,3,3,96] as tiled
  assert rows["convert.1"]["bytes"] == weights  # its result is on chip
  assert rows["fusion.1"]["bytes"] == 2 * image  # reads the video, not the on-chip weights
  assert rows["add.1"]["bytes"] == 3 * image
  assert rows["fusion.1"]["category"] == "convolution (fused)"
  assert rows["fusion.1"]["padding"] == 2 * image - (2 * 8 * 8 * 3 + 2 * 8 * 8 * 96) * 2
  summary = tpu_breakdown.summarise(list(rows.values()), measure="bytes")
  assert summary["total_bytes"] == weights + 5 * image
  assert summary["by_op"][0]["op"] == "add"
  assert "tile padding" in tpu_breakdown.report(summary)


def test_cycles_come_from_the_scheduled_instructions():
  rows = tpu_breakdown.parse(_HLO)
  assert [(r["name"], r["cycles"]) for r in rows] == [("fusion.1", 300), ("add.1", 100)]
  summary = tpu_breakdown.summarise(rows)
  assert summary["by_category"]["convolution (fused)"] == pytest.approx(0.75)
