"""Every paper configuration: its sizes, its tiny version, and the validation of configs."""

import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from conftest import CONFIG_DIR, CONFIG_FILES, REPO
from hvg_jax import config_lib, models

# SPEC section 6 (and the papers' appendices): (training output frames, resolution,
# input window frames, input resolution, whole-video frames, classes, G ch/mults, D ch/mults).
PAPER = {
    "kinetics_level1": (24, 32, None, None, 24, 600, 128, (8, 8, 4, 2), 128, (2, 4, 8, 16, 16)),
    "kinetics_level2": (12, 128, 6, 32, 48, 600, 128, (8, 8, 4, 2, 1), 96, (1, 2, 4, 8, 16, 16)),
    "kinetics_level2_no_md": (12, 128, 6, 32, 48, 600, 128, (8, 8, 4, 2, 1), 96,
                              (1, 2, 4, 8, 16, 16)),
    "kinetics_level2_window3": (6, 128, 3, 32, 48, 600, 128, (8, 8, 4, 2, 1), 96,
                                (1, 2, 4, 8, 16, 16)),
    "bdd_level1": (12, 64, None, None, 12, 0, 128, (8, 8, 8, 4, 2), 128, (2, 4, 8, 16, 16)),
    "bdd_level2": (12, 128, 6, 64, 24, 0, 96, (8, 8, 4, 2, 1), 96, (1, 2, 4, 8, 16, 16)),
    "bdd_level3": (12, 256, 6, 128, 48, 0, 96, (8, 4, 4, 4, 2, 1), 96, (1, 2, 4, 8, 8, 16, 16)),
    "ucf101_level1": (8, 64, None, None, 8, 101, 128, (8, 8, 8, 4, 2), 128, (2, 4, 8, 16, 16)),
    "ucf101_level2": (16, 128, 8, 64, 16, 101, 128, (8, 8, 4, 2, 1), 96, (1, 2, 4, 8, 16, 16)),
    "ssw_bdd_level1": (25, 32, None, None, 25, 0, 128, (8, 8, 4, 2), 128, (2, 4, 8, 16, 16)),
    "ssw_bdd_level2": (12, 64, 6, 32, 50, 0, 96, (8, 4, 4, 2), 64, (2, 4, 8, 8, 16)),
    "ssw_bdd_level3": (12, 128, 6, 64, 100, 0, 96, (8, 4, 4, 2, 2), 64, (1, 2, 4, 8, 8, 16)),
    "dvdgan_kinetics_12x64": (12, 64, None, None, 12, 600, 128, (8, 8, 8, 4, 2), 128,
                              (2, 4, 8, 16, 16)),
    "dvdgan_kinetics_48x64": (48, 64, None, None, 48, 600, 128, (8, 8, 8, 4, 2), 128,
                              (2, 4, 8, 16, 16)),
    "dvdgan_kinetics_12x128": (12, 128, None, None, 12, 600, 96, (8, 8, 8, 4, 2, 1), 96,
                               (1, 2, 4, 8, 16, 16)),
    "dvdgan_kinetics_48x128": (48, 128, None, None, 48, 600, 96, (8, 8, 8, 4, 2, 1), 96,
                               (1, 2, 4, 8, 16, 16)),
}
CHAINS = [
    ("kinetics_level1", "kinetics_level2"),
    ("bdd_level1", "bdd_level2", "bdd_level3"),
    ("ucf101_level1", "ucf101_level2"),
    ("ssw_bdd_level1", "ssw_bdd_level2", "ssw_bdd_level3"),
]


# The fast tier (-m "not slow") checks the two cheapest paper configurations, a level 1 and
# an upsampling level; the full suite checks them all.
FAST = ("ssw_bdd_level1", "ssw_bdd_level2")
PAPER_NAMES = [n if n in FAST else pytest.param(n, marks=pytest.mark.slow) for n in sorted(PAPER)]


def _load(name, arg=None):
  return config_lib.load_config(CONFIG_DIR / f"{name}.py", arg)


def test_every_config_file_is_a_paper_configuration_a_chain_or_the_demo():
  chains = ["kinetics_chain.py", "bdd_chain.py", "ucf101_chain.py", "ssw_bdd_chain.py"]
  demo = ["demo.py", "demo_level1.py", "demo_level2.py", "video_folder.py"]
  assert sorted([f"{n}.py" for n in PAPER] + chains + demo) == CONFIG_FILES


@pytest.mark.parametrize("arg", [None, "runlocal"])
def test_chain_configs_hold_the_paper_chains(arg):
  for levels in CHAINS:
    name = levels[0].removesuffix("_level1")
    chain = config_lib.load_config(CONFIG_DIR / f"{name}_chain.py", arg)
    assert [c.name for c in config_lib.chain_levels(chain)] == list(levels)
    assert all(c.runlocal == (arg == "runlocal") for c in config_lib.chain_levels(chain))


def test_a_chain_whose_levels_do_not_chain_is_refused(tmp_path):
  for name in ("kinetics_level1", "bdd_level2"):
    (tmp_path / f"{name}.py").write_text((CONFIG_DIR / f"{name}.py").read_text())
  # Level 2's input is filled from level 1's data; the data sets still differ.
  with pytest.raises(config_lib.ConfigError, match="config.data.name: bdd_level2 has "
                     "'bdd100k', the level below .kinetics_level1. 'kinetics600'"):
    config_lib.chain_config("bad", [tmp_path / "kinetics_level1.py",
                                    tmp_path / "bdd_level2.py"])


def _abstract_inputs(config, batch):
  s = config_lib.level_shapes(config)
  z = jax.ShapeDtypeStruct((batch, config.model.g.z_dim), jnp.float32)
  labels = jax.ShapeDtypeStruct((batch,), jnp.int32) if s.num_classes else None
  low = None
  if s.upsampling:
    low = jax.ShapeDtypeStruct(
        (batch, s.input_train_frames, s.input_resolution, s.input_resolution, 3), jnp.float32)
  return s, z, labels, low


def _generate(g, z, low, labels):
  return g(z, low, labels) if low is not None else g(z, labels)


@pytest.mark.parametrize("name", PAPER_NAMES)
def test_paper_config_at_full_size(name):
  """Builds G and the Ds at the paper's size abstractly and checks every shape."""
  c = _load(name)
  frames, res, in_frames, in_res, video, classes, g_ch, g_m, d_ch, d_m = PAPER[name]
  s, z, labels, low = _abstract_inputs(c, batch=2)
  assert (s.train_frames, s.resolution, s.input_train_frames, s.input_resolution, s.video_frames,
          s.num_classes) == (frames, res, in_frames, in_res, video, classes)
  assert (c.model.g.ch, tuple(c.model.g.mults), c.model.d.ch, tuple(c.model.d.mults)) == (
      g_ch, g_m, d_ch, d_m)

  g = nnx.eval_shape(lambda: models.build_generator(c, rngs=nnx.Rngs(0)))
  d = nnx.eval_shape(lambda: models.build_discriminators(c, rngs=nnx.Rngs(1)))
  g_def, g_state = nnx.split(g)
  d_def, d_state = nnx.split(d)
  video_shape = jax.eval_shape(
      lambda st, z, low, y: _generate(nnx.merge(g_def, st, copy=True), z, low, y),
      g_state, z, low, labels)
  assert video_shape.shape == (2, frames, res, res, 3)
  scores = jax.eval_shape(
      lambda st, v, y, low: nnx.merge(d_def, st, copy=True)(
          v, y, key=jax.random.key(0), video_low=low),
      d_state, video_shape, labels, low)
  expected = {"spatial": (2, min(8, frames)), "temporal": (2, frames)}
  if s.upsampling and c.model.matching:
    expected["matching"] = (2, in_frames)
  assert {k: v.shape for k, v in scores.items()} == expected
  # The widest layer really is ch * max(mults) wide.
  widths = {x.shape[-1] for x in jax.tree.leaves(nnx.state(g, nnx.Param))}
  assert g_ch * max(g_m) in widths


@pytest.mark.parametrize("name", PAPER_NAMES)
def test_tiny_version_runs_forward_and_backward(name):
  c = _load(name, "runlocal")
  s = config_lib.level_shapes(c)
  assert c.runlocal and c.data.resolution <= 64 and c.model.g.ch <= 8
  g = models.build_generator(c, rngs=nnx.Rngs(0))
  d = models.build_discriminators(c, rngs=nnx.Rngs(1))
  n_params = sum(x.size for x in jax.tree.leaves(nnx.state((g, d), nnx.Param)))
  assert n_params < 2_000_000

  batch = 2
  rng = np.random.default_rng(0)
  z = rng.normal(size=(batch, c.model.g.z_dim)).astype(np.float32)
  labels = jnp.arange(batch) % s.num_classes if s.num_classes else None
  low = None
  if s.upsampling:
    low = rng.uniform(-1, 1, (batch, s.input_train_frames, s.input_resolution,
                              s.input_resolution, 3)).astype(np.float32)

  @nnx.jit
  def grads(g, d):
    def loss(g, d):  # G's hinge loss, -D(G(z)): every parameter of both gets a gradient
      fake = _generate(g, z, low, labels)
      scores = d(fake, labels, key=jax.random.key(0), video_low=low)
      return -sum(jnp.mean(f) for f in scores.values())

    diff = nnx.DiffState(0, nnx.Param), nnx.DiffState(1, nnx.Param)
    return nnx.value_and_grad(loss, argnums=diff)(g, d)

  value, (g_grads, d_grads) = grads(g, d)
  assert np.isfinite(float(value))
  for grads_ in (g_grads, d_grads):
    flat = nnx.to_flat_state(grads_)
    assert all(np.all(np.isfinite(v[...])) for _, v in flat)
    dead = ["/".join(map(str, path)) for path, v in flat if not np.any(v[...])]
    assert not dead, f"parameters without gradient: {dead}"


@pytest.mark.parametrize("arg", [None, "runlocal"])
@pytest.mark.parametrize("chain", CHAINS, ids=lambda c: c[0].split("_level")[0])
def test_levels_of_a_chain_fit_together(chain, arg):
  """An upsampling level's input is exactly the whole video of the level below."""
  for lower, upper in zip(chain, chain[1:]):
    lo, up = _load(lower, arg), _load(upper, arg)
    assert up.level == lo.level + 1
    assert (up.model.input.frames, up.model.input.resolution, up.model.input.subsample) == (
        lo.data.frames, lo.data.resolution, lo.data.subsample), (lower, upper)
    assert (up.data.name, up.data.num_classes) == (lo.data.name, lo.data.num_classes)


def _broken(mutate, name="kinetics_level2"):
  c = _load(name)
  mutate(c)
  return c


@pytest.mark.parametrize("field,mutate,name", [
    ("config.model.input.resolution",
     lambda c: setattr(c.model.input, "resolution", 48), "kinetics_level2"),
    ("config.model.input.resolution",
     lambda c: setattr(c.model.input, "resolution", 256), "kinetics_level2"),
    ("config.model.input.subsample",
     lambda c: setattr(c.model.input, "subsample", 3), "kinetics_level2"),
    ("config.data.frames", lambda c: setattr(c.data, "frames", 40), "kinetics_level2"),
    ("config.model.g.mults", lambda c: setattr(c.model.g, "mults", (8, 8, 4, 2)),
     "kinetics_level2"),
    ("config.model.g.mults", lambda c: setattr(c.model.g, "mults", (8, 8, 4)),
     "kinetics_level1"),
    ("config.model.d.mults", lambda c: setattr(c.model.d, "mults", (1, 2, 4)),
     "bdd_level3"),
    ("config.model.window", lambda c: setattr(c.model, "window", 30), "kinetics_level2"),
    ("config.model.window", lambda c: setattr(c.model, "window", 0), "kinetics_level2"),
    ("config.model.d.mults",
     lambda c: setattr(c.model.d, "mults", (1, 2, 4, 8, 8, 16, 16, 16)), "kinetics_level2"),
    ("config.model.d.temporal_downsample",
     lambda c: setattr(c.model.d, "temporal_downsample", True), "kinetics_level2_window3"),
    ("config.model.d.temporal_downsample",
     lambda c: setattr(c.model.d, "temporal_downsample", True), "ssw_bdd_level1"),
    ("config.model.window", lambda c: setattr(c.model, "window", 4), "kinetics_level1"),
    ("config.data.resolution", lambda c: setattr(c.data, "resolution", 100), "bdd_level1"),
    ("config.model.matching", lambda c: setattr(c.model, "matching", True), "bdd_level1"),
    ("config.model.g.input_skip", lambda c: setattr(c.model.g, "input_skip", True),
     "bdd_level1"),
    ("config.model.dtype", lambda c: setattr(c.model, "dtype", "float16"), "bdd_level1"),
    ("config.model.d.temporal_3d_blocks",
     lambda c: setattr(c.model.d, "temporal_3d_blocks", 9), "bdd_level1"),
])
def test_invalid_config_names_the_field(field, mutate, name):
  c = _broken(mutate, name)
  with pytest.raises(config_lib.ConfigError) as err:
    config_lib.validate(c)
  assert str(err.value).startswith(field + ":"), str(err.value)


def test_temporal_downsampling_where_the_frames_allow_it():
  for name in ("kinetics_level1", "kinetics_level2_no_md"):
    c = _load(name)
    c.model.d.temporal_downsample = True  # 24 and 12 frames for D_T: two halvings
    config_lib.validate(c)


def test_check_chain_against_the_level_below():
  lower, upper = _load("bdd_level2"), _load("bdd_level3")
  config_lib.check_chain(lower, upper)
  for field, value in (("frames", 12), ("resolution", 64), ("subsample", 2)):
    bad = _load("bdd_level2")
    setattr(bad.data, field, value)
    if field == "frames":
      bad.model.input.frames = 6
    if field == "resolution":
      bad.model.g.mults = bad.model.g.mults[1:]
      bad.model.d.mults = bad.model.d.mults[:-1]
    if field == "subsample":
      bad.model.input.subsample = 4
    with pytest.raises(config_lib.ConfigError, match=f"config.model.input.{field}:"):
      config_lib.check_chain(bad, upper)
  with pytest.raises(config_lib.ConfigError, match="config.level:"):
    config_lib.check_chain(_load("bdd_level1"), upper)
  other_data = _load("kinetics_level1")
  other_data.data.name = "ucf101"
  with pytest.raises(config_lib.ConfigError, match="config.data.name:"):
    config_lib.check_chain(other_data, _load("kinetics_level2"))


def test_upsampling_level_without_input_is_an_error():
  c = _load("bdd_level1")
  c.level = 2
  c.model.g.mults = c.model.g.mults[1:]
  with pytest.raises(config_lib.ConfigError, match="config.model.input: level 2"):
    config_lib.validate(c)


def test_unknown_config_argument_is_an_error():
  with pytest.raises(config_lib.ConfigError, match="unknown config argument 'tiny'"):
    _load("bdd_level1", "tiny")


@pytest.mark.slow
def test_describe_prints_sizes_without_allocating():
  """describe on the paper-size BDD level 3 through the command line, as a user runs it."""
  out = subprocess.run(
      [sys.executable, "-m", "hvg_jax.describe", "--config=configs/bdd_level3.py",
       "--nofull_table"], cwd=REPO, capture_output=True, text=True, check=True,
      timeout=600).stdout
  assert "upsamples 6/128x128 -> 12/256x256" in out
  assert "== G (UpsamplingGenerator): 71,913,027 parameters" in out
  for name in ("D_S (spatial)", "D_T (temporal)", "D_M (matching)"):
    assert f"== {name}:" in out
  assert "output:  (1, 12, 256, 256, 3)" in out and "output:  (1, 6)" in out
  assert "FLOPs of one forward pass, per example: 2.1" in out  # ~2.1 TFLOP for G
  assert "stem/linear/kernel" in out  # clu's parameter table


def test_describe_a_tiny_level_one_config():
  out = subprocess.run(
      [sys.executable, "-m", "hvg_jax.describe", "--config=configs/kinetics_level1.py:runlocal",
       "--config.model.g.ch=2"], cwd=REPO, capture_output=True, text=True, check=True,
      timeout=600).stdout
  assert "level 1: noise -> 24/8x8 (600 classes)" in out
  assert "labels (1,)" in out and "D_M" not in out
