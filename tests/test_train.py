"""Training a level: sharded updates, exact resumption, learning, and failure handling."""

import json
import shutil
import subprocess
import sys
from unittest import mock

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from conftest import CONFIG_DIR, PYTHON, REPO, subprocess_env
from hvg_jax import config_lib, runtime
from hvg_jax import level as level_lib
from hvg_jax.checkpoints import Checkpoints, config_differences
from hvg_jax.config_lib import validation
from hvg_jax.data import pipeline
from hvg_jax.layers import sampling_view
from hvg_jax.train import state as state_lib
from hvg_jax.train import trainer


def _demo(arg="runlocal", **train):
  c = config_lib.load_config(CONFIG_DIR / "demo_level1.py", arg)
  c.train.update(train)
  return c


@pytest.mark.slow
def test_sharded_update_equals_single_device():
  """8 simulated CPU devices, global batch 16: the same parameters and BatchNorm statistics
  as on one device, so gradients are averaged and BatchNorm is synchronised; the same
  gradients for a level-2 update on a frozen level 1, and the same standing statistics and
  videos of a chain with the batch split over the devices. One ReLU unit whose input is
  within rounding of zero may differ (tests/helpers/state_compare.py)."""
  out = subprocess.run([PYTHON, str(REPO / "tests" / "helpers" / "sharded_update.py")],
                       capture_output=True, text=True, env=subprocess_env(), timeout=900)
  assert out.returncode == 0, out.stderr[-3000:]
  result = json.loads(out.stdout.strip().splitlines()[-1])
  assert result["devices"] == 8
  assert result["param_change"] > 1e-5, "the update changed every parameter"
  assert result["state_rel_err"] < 1e-5, result
  assert result["bn_stats_leaves"] > 0 and result["bn_stats_rel_err"] < 1e-5, result
  assert result["level2_state_rel_err"] < 1e-5, result
  # At most one unit whose input is within rounding of a ReLU's kink (state_differences).
  assert len(result["level2_flipped_units"]) <= 1, result
  assert result["chain_stats_rel_err"] < 1e-5 and result["chain_videos_max_err"] < 1e-5, result


def test_state_comparison_sets_aside_one_flipped_channel_and_nothing_else():
  sys.path.insert(0, str(REPO / "tests" / "helpers"))
  from state_compare import state_differences  # pylint: disable=import-outside-toplevel
  rng = np.random.default_rng(0)
  conv = lambda: {"conv1": {"kernel": nnx.Param(rng.normal(size=(3, 3, 6, 4))),
                            "bias": nnx.Param(rng.normal(size=4)),
                            "v": nnx.Variable(rng.normal(size=162))}}
  moments = lambda: {"matching": conv(), "spatial": conv()}
  state = {"discriminators": moments(), "step": nnx.Variable(np.int32(3)),
           "d_optimizer": {"opt_state": [{"mu": moments(), "nu": moments()}]}}
  assert state_differences(state, state) == (0.0, [])

  def changed(*where, by=1e-3):
    other = jax.tree.map(np.copy, state)
    for root, name, channel, leaf in where:
      tree = other[root] if root == "discriminators" else other["d_optimizer"]["opt_state"][0][root]
      x = tree[name]["conv1"][leaf].get_value()
      x.reshape(-1, x.shape[-1])[0, channel] += by * np.linalg.norm(x)
    return other

  # One unit: one channel of one layer's gradient, in Adam's moments.
  worst, aside = state_differences(changed(*[(m, "matching", 2, leaf) for m in ("mu", "nu")
                                             for leaf in ("kernel", "bias")]), state)
  assert worst < 1e-5 and aside == ["matching.conv1[..., 2]: 0.001"]
  # Anything else counts whole: two channels, two layers, a parameter, a spectral-norm
  # vector, a counter, every leaf a little, a NaN.
  for where, expected in [
      ((("mu", "matching", 2, "bias"), ("mu", "matching", 3, "bias")), 2 ** 0.5 * 1e-3),
      ((("mu", "matching", 2, "bias"), ("mu", "spatial", 2, "bias")), 1e-3),
      ((("discriminators", "matching", 2, "bias"),), 1e-3),
      ((("discriminators", "matching", 2, "v"),), 1e-3)]:
    assert state_differences(changed(*where), state) == (pytest.approx(expected, rel=0.01), [])
  counter = jax.tree.map(np.copy, state)
  counter["step"].set_value(np.int32(4))
  assert state_differences(counter, state) == (pytest.approx(1 / 3), [])
  every = jax.tree.map(lambda x: x * (1 + 1e-4), state)
  assert state_differences(every, state) == (pytest.approx(1e-4), [])
  nan = changed(("mu", "matching", 2, "bias"), by=np.nan)
  assert state_differences(nan, state) == (float("inf"), [])


def _leaves(state):
  return [np.asarray(x) for x in jax.tree.leaves(jax.device_get(state))]


def test_batch_that_does_not_split_over_the_devices_is_a_clear_error(tmp_path, monkeypatch):
  monkeypatch.setattr(jax, "device_count", lambda: 8)
  with pytest.raises(config_lib.ConfigError, match="config.train.batch_size: 4 does not "
                     "split over the 8 devices"):
    trainer.train(_demo(), tmp_path)


@pytest.mark.slow
def test_an_upsampling_level_trains_one_step_on_generated_inputs():
  """The level-2 step: real pairs from the data, fake pairs from an (untrained) frozen level
  1, the matching discriminator judging both."""
  from hvg_jax import models
  from hvg_jax.chain import generate as chain_gen
  from hvg_jax.chain.sampler import ChainSampler
  from hvg_jax.train import step as step_lib
  config = config_lib.load_config(CONFIG_DIR / "ssw_bdd_level2.py", "runlocal")
  config.data.name = "demo"
  level1_config = config_lib.load_config(CONFIG_DIR / "ssw_bdd_level1.py", "runlocal")
  level1 = level_lib.frozen_level(
      level1_config, *nnx.split(models.build_generator(level1_config, rngs=nnx.Rngs(1))),
      source="random")
  (level1.stats,) = ChainSampler([level1], progress=False).standing_statistics(
      [25], passes=1, batch=2, key=jax.random.key(0), recompute=[0])
  shapes = config_lib.level_shapes(config)
  lower = chain_gen.LowerLevels([level1], shapes.input_train_frames)
  mesh = runtime.make_mesh()
  graphdef, state = state_lib.initial_state(config, mesh)
  before = jax.device_get(nnx.state(nnx.merge(graphdef, state).generator, nnx.Param))

  step = step_lib.make_train_step(config, graphdef, mesh, lower)
  batch = pipeline.level_dataset(config, pipeline.get_source(config))[0]
  assert batch["video"].shape[2:] == (12, 16, 16, 3)  # 12-frame windows of the level
  state, metrics = step(state, runtime.put_batch(mesh, batch), lower.arrays)
  assert {"d_real/matching", "d_fake/matching"} <= set(metrics)
  assert all(np.isfinite(float(v)) for v in metrics.values())
  after = nnx.state(nnx.merge(graphdef, state).generator, nnx.Param)
  assert any(not np.allclose(a, b) for a, b in zip(jax.tree.leaves(before),
                                                    jax.tree.leaves(jax.device_get(after))))


# The tests that start from it run on one pytest-xdist worker (--dist loadgroup), so it is
# made once.
@pytest.fixture(scope="module")
def two_steps(tmp_path_factory):
  """(config, workdir) of a finished 2-step run of the demo's level 1, to copy."""
  config = _demo(num_steps=2, checkpoint_every=2, log_every=1, sample_every=100)
  workdir = tmp_path_factory.mktemp("two_steps") / "run"
  # Counted for test_a_training_start_validates_its_config_once, from an empty record of
  # validated configs (as a fresh process has).
  with mock.patch.dict(validation._VALIDATED, clear=True), \
      mock.patch.object(validation, "_validate", wraps=validation._validate) as spy:
    trainer.train(config, workdir)
  _VALIDATIONS[:] = [call.args[0].to_json() for call in spy.call_args_list]
  return config, workdir


_VALIDATIONS = []  # the configs the two_steps run validated, in order


@pytest.mark.slow
@pytest.mark.xdist_group("two_steps")
def test_a_training_start_validates_its_config_once(two_steps):
  """Every module asks for the config's shapes (about nine times per start); the fields are
  checked once."""
  config, _ = two_steps
  assert _VALIDATIONS == [config.to_json()]


@pytest.fixture
def two_step_copy(two_steps, tmp_path):
  """(config, workdir): a copy of the finished 2-step run, for a test to change."""
  config, finished = two_steps
  shutil.copytree(finished, tmp_path / "run")
  return config.copy_and_resolve_references(), tmp_path / "run"


@pytest.mark.slow
@pytest.mark.xdist_group("two_steps")
def test_the_last_step_saves_the_finished_generator_and_a_rerun_finishes_a_level(
    two_step_copy):
  """The last step's state is saved before the standing statistics are computed; a level
  whose finish was lost (a crash in between) is finished by running the command again."""
  config, workdir = two_step_copy
  assert level_lib.finished_steps(workdir) == [2]
  assert level_lib.is_finished(workdir, config.train.num_steps)
  first = level_lib.load_workdir(workdir)
  counts = {int(x) for x in jax.tree.leaves(first.stats) if x.ndim == 0}
  assert first.stats_frames == 8 and counts == {4}  # runlocal: 4 dummy passes
  (workdir / "generator").rename(workdir / "lost")
  assert not level_lib.is_finished(workdir, config.train.num_steps)
  with pytest.raises(level_lib.ChainError, match="is unfinished: 2 of 2 steps"):
    level_lib.load_workdir(workdir)
  trainer.train(config, workdir)
  again = level_lib.load_workdir(workdir)
  jax.tree.map(np.testing.assert_array_equal, jax.device_get(again.arrays),
               jax.device_get(first.arrays))


@pytest.mark.slow
@pytest.mark.xdist_group("two_steps")
def test_resume_continues_exactly(two_step_copy, tmp_path, caplog):
  """2 steps, stop, 2 more from the checkpoint == 4 steps in one go."""
  config, workdir = two_step_copy
  config.train.num_steps = 4
  with caplog.at_level("INFO"):
    _, resumed = trainer.train(config, workdir)
  assert "from the checkpoint of step 2." in caplog.text
  _, straight = trainer.train(config, tmp_path / "straight")
  assert int(resumed.step[...]) == 4
  assert len(_leaves(resumed)) == len(_leaves(straight))
  for a, b in zip(_leaves(resumed), _leaves(straight)):
    np.testing.assert_array_equal(a, b)
  assert Checkpoints(workdir, config).latest_step() == 4


def test_a_field_added_since_a_checkpoint_was_saved_counts_at_its_default():
  """A checkpoint written before a config field existed (model.g.input_skip) resumes with
  today's configs: the missing field is its default, not a change of model."""
  config = config_lib.load_config(str(CONFIG_DIR / "demo_level2.py"), "runlocal")
  saved = config.to_dict()
  del saved["model"]["g"]["input_skip"]
  assert config_differences(saved, config) == {}
  config.model.g.input_skip = True
  assert config_differences(saved, config) == {"model.g.input_skip": (False, True)}


@pytest.mark.slow
@pytest.mark.xdist_group("two_steps")
def test_resume_refuses_another_model(two_step_copy):
  config, workdir = two_step_copy
  config.train.num_steps = 3
  other = config.copy_and_resolve_references()
  other.model.g.ch = 6
  with pytest.raises(config_lib.ConfigError, match="config.model.g.ch: saved 4, now 6"):
    trainer.train(other, workdir)
  other = config.copy_and_resolve_references()
  other.train.ema_decay = None  # the saved state has an EMA of G (the demo's 0.99)
  with pytest.raises(config_lib.ConfigError, match="config.train.ema_decay: saved 0.99"):
    trainer.train(other, workdir)
  config.model.g.scan_unroll = 2  # only how it runs: resumes
  trainer.train(config, workdir)
  assert Checkpoints(workdir, config).latest_step() == 3


@pytest.mark.slow
@pytest.mark.xdist_group("two_steps")
@pytest.mark.parametrize("checkpoint_every,log_every", [(1, 100), (100, 1)])
def test_nonfinite_loss_stops_and_keeps_the_good_checkpoint(two_step_copy, checkpoint_every,
                                                            log_every):
  """Whether a log or a save comes first after the blow-up, nothing non-finite is saved."""
  config, workdir = two_step_copy
  # Blows up on the next step (parameters overflow even where the loss is still finite).
  config.train.update(num_steps=6, g_lr=1e38, d_lr=1e38, checkpoint_every=checkpoint_every,
                      log_every=log_every)
  with pytest.raises(trainer.NonFiniteLossError, match=r"last checkpoint \(step 2\) is intact"):
    trainer.train(config, workdir)
  assert Checkpoints(workdir, config).latest_step() == 2
  assert sorted(p.name for p in (workdir / "checkpoints").iterdir()) == ["2"]


@pytest.mark.slow
def test_nonfinite_loss_before_the_first_checkpoint_says_none_was_saved(tmp_path):
  config = _demo(num_steps=2, checkpoint_every=100, log_every=1, sample_every=100,
                 g_lr=1e38, d_lr=1e38)
  with pytest.raises(trainer.NonFiniteLossError, match="no checkpoint had been saved yet"):
    trainer.train(config, tmp_path)
  assert not (tmp_path / "checkpoints").exists() or not any(
      (tmp_path / "checkpoints").iterdir())


def _features(videos, projection):
  """Fixed random features of (N, T, R, R, 3) videos: 4x4-pooled frames and their
  differences in time, randomly projected."""
  n, t, r = videos.shape[:3]
  pooled = videos.reshape(n, t, 4, r // 4, 4, r // 4, 3).mean(axis=(3, 5))
  motion = np.diff(pooled, axis=1)
  return np.concatenate([pooled.reshape(n, -1), 2 * motion.reshape(n, -1)], 1) @ projection


def _frechet(a, b):
  mu1, mu2 = a.mean(0), b.mean(0)
  s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
  w, v = np.linalg.eigh(s1)
  root = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
  cross = np.sqrt(np.clip(np.linalg.eigvalsh(root @ s2 @ root), 0, None)).sum()
  return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * cross)


@pytest.mark.slow
def test_a_tiny_level1_learns_the_demo_data(tmp_path, optimized):
  """150 steps bring the samples' feature statistics measurably closer to the data's (to
  about 0.36 of the untrained distance; 0.31 after 300)."""
  del optimized
  config = _demo(batch_size=16, num_steps=150, checkpoint_every=150, log_every=50,
                 sample_every=150)
  config.model.g.ch = config.model.d.ch = 8
  source = pipeline.get_source(config)
  shapes = config_lib.level_shapes(config)
  spec = pipeline.ClipSpec(shapes.train_frames, config.data.subsample, shapes.resolution)
  real = np.stack([pipeline.take_clip(source[i], np.random.default_rng(i), spec)["video"]
                   for i in range(512)]).astype(np.float32) / 127.5 - 1.0
  dims = (2 * shapes.train_frames - 1) * 4 * 4 * 3  # pooled frames and differences
  projection = np.random.default_rng(0).normal(size=(dims, 48)) / 20
  real_features = _features(real, projection)
  z = jax.random.normal(jax.random.key(7), (512, config.model.g.z_dim))
  labels = jnp.arange(512) % config.data.num_classes

  def distance(graphdef, state):
    @jax.jit
    def sample(state, z, y):
      g = level_lib.sampling_generator(nnx.merge(graphdef, state))  # the EMA G the level samples
      g = sampling_view(g, standing_stats=False)
      return g(z, y)
    fake = np.concatenate([np.asarray(sample(state, z[i:i + 128], labels[i:i + 128]))
                           for i in range(0, 512, 128)])
    return _frechet(real_features, _features(fake, projection))

  before = distance(*state_lib.initial_state(config, runtime.make_mesh()))
  after = distance(*trainer.train(config, tmp_path))
  assert after < 0.5 * before, (before, after)
  assert (tmp_path / "samples" / "step_00000150.gif").exists()


def test_hinge_losses_concatenate_the_discriminators():
  from hvg_jax.train.losses import generator_loss, hinge_losses
  rng = np.random.default_rng(0)
  scores = {"spatial": rng.normal(size=(6, 8)), "temporal": rng.normal(size=(6, 12))}
  loss, parts = hinge_losses(scores, batch=3)
  real = np.concatenate([scores["spatial"][:3], scores["temporal"][:3]], axis=1)
  fake = np.concatenate([scores["spatial"][3:], scores["temporal"][3:]], axis=1)
  expected = np.maximum(1 - real, 0).mean() + np.maximum(1 + fake, 0).mean()
  np.testing.assert_allclose(float(loss), expected, rtol=1e-6)
  np.testing.assert_allclose(float(parts["d_real/temporal"]),
                             np.maximum(1 - scores["temporal"][:3], 0).mean(), rtol=1e-6)
  np.testing.assert_allclose(float(generator_loss({k: v[3:] for k, v in scores.items()})),
                             -fake.mean(), rtol=1e-6)


@pytest.mark.slow
def test_ema_of_the_generator():
  """Before ema_start the average follows G; after it, ema = d * ema + (1 - d) * G."""
  from hvg_jax.layers import SpectralVector
  from hvg_jax.train import step as step_lib
  config = _demo(ema_decay=0.25, ema_start=1)
  mesh = runtime.make_mesh()
  graphdef, state = state_lib.initial_state(config, mesh)
  step = step_lib.make_train_step(config, graphdef, mesh)
  ds = pipeline.level_dataset(config, pipeline.get_source(config))
  generators = []
  for i in range(2):
    state, _ = step(state, runtime.put_batch(mesh, ds[i]), None)
    gan = nnx.merge(graphdef, jax.device_get(state))
    generators.append((nnx.state(gan.generator, nnx.Param),
                       nnx.state(gan.ema_generator, nnx.Param)))
  (g1, ema1), (g2, ema2) = generators
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6), ema1, g1)
  jax.tree.map(lambda e, a, b: np.testing.assert_allclose(e, 0.25 * a + 0.75 * b, rtol=1e-5,
                                                          atol=1e-7), ema2, ema1, g2)
  jax.tree.map(np.testing.assert_array_equal, nnx.state(gan.ema_generator, SpectralVector),
               nnx.state(gan.generator, SpectralVector))


def test_a_sampling_setting_out_of_range_names_the_config_field(tmp_path):
  """The sampler's errors reach a training run in its terms (a config field), not a
  command's flag."""
  from hvg_jax.train import finish, run as run_lib  # pylint: disable=import-outside-toplevel
  config = _demo(num_steps=1)
  run = run_lib.start(config, tmp_path / "run")
  graphdef, state = state_lib.initial_state(config, run.mesh)
  with pytest.raises(config_lib.ConfigError,
                     match=r"^config\.sample\.standing_passes=0: must be at least 1"):
    finish.sampling_level(run, graphdef, state, 0, passes=0)
