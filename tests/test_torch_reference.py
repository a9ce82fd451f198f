"""The PyTorch reference (benchmarks/torch_reference.py) computes what hvg_jax computes.

Weights, spectral-norm vectors and standing statistics are copied from the Flax models of
the same configs; then every network's forward pass, the spectral-norm power iteration
and one whole training iteration (the same random draws replayed) must agree to float32
rounding. The tiny configs: the demo chain with ``runlocal`` (8 px, no spatial
upsampling) and the demo chain at its own sizes with narrow widths (16 -> 32 px: the
bilinear f_s, upsampling units and the residuals that stop at the input resolution).
"""

import copy
import json
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from conftest import CONFIG_DIR, PYTHON, REPO, subprocess_env
from hvg_jax import config_lib, models, programs, runtime
from hvg_jax.chain import generate as gen
from hvg_jax.layers import FrameBatchNorm, sampling_view, training_view
from hvg_jax.models import select_frames
from hvg_jax.train import state as state_lib
from hvg_jax.train import step as step_lib

torch = pytest.importorskip("torch")
sys.path.insert(0, str(REPO / "benchmarks"))
import torch_reference as tr  # noqa: E402  pylint: disable=g-import-not-at-top

torch.set_num_threads(1)  # tiny ops: one thread, no waiting on a busy second core


def _chain(kind):
  """(level1, level2) configs: 'runlocal' or 'narrow' (the demo's sizes, 2 channels)."""
  chain = config_lib.load_config(CONFIG_DIR / "demo.py", "runlocal" if kind == "runlocal"
                                 else None)
  levels = config_lib.chain_levels(chain)
  if kind == "narrow":
    for c in levels:
      c.model.g.update(ch=2, z_dim=8, embed_dim=4)
      c.model.d.ch = 2
      c.train.batch_size = 2
      config_lib.validate(c)
  return levels


def _t(x):
  """(B, T, H, W, C) NumPy/JAX -> torch (B, T, C, H, W)."""
  return torch.from_numpy(np.array(x)).permute(0, 1, 4, 2, 3)


def _n(x):
  """torch (B, T, C, H, W) -> NumPy (B, T, H, W, C)."""
  return x.detach().permute(0, 1, 3, 4, 2).numpy()


def _param_count(module):
  return sum(x.size for x in jax.tree.leaves(nnx.state(module, nnx.Param)))


def _standing_stats(module, rng):
  """Plausible, distinct per-frame standing statistics in every FrameBatchNorm."""
  for _, m in nnx.iter_modules(module):
    if isinstance(m, FrameBatchNorm):
      m.mean.set_value(jnp.asarray(rng.normal(size=m.mean.shape) * 0.1, jnp.float32))
      m.var.set_value(jnp.asarray(rng.uniform(0.5, 2.0, size=m.var.shape), jnp.float32))
      m.count.set_value(jnp.ones((), jnp.int32))


def _as_torch(flax_module, like):
  """A copy of torch model ``like`` holding ``flax_module``'s weights (torch layout)."""
  out = copy.deepcopy(like)
  tr.load_from_flax(out, flax_module)
  return out


def _assert_same_buffers(flax_module, torch_module, what):
  """Every spectral-norm vector (and standing statistic) of the torch model equals the
  Flax model's, matched by name through load_from_flax."""
  expected = _as_torch(flax_module, torch_module)
  got = dict(torch_module.named_buffers())
  names = [n for n, _ in expected.named_buffers()]
  assert names == list(got) and sum(n.endswith(".u") for n in names) > 10
  for name, want in expected.named_buffers():
    _assert_close(got[name].numpy(), want.numpy(), 0, 1e-6, f"{what} buffer {name}")


def _assert_close(a, b, rtol, atol, what):
  a, b = np.asarray(a), np.asarray(b)
  assert a.shape == b.shape, f"{what}: shapes {a.shape} vs {b.shape}"
  np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=what)


@pytest.mark.parametrize("kind", ["runlocal", "narrow"])
def test_same_networks_same_outputs(kind):
  """Parameter counts per network, then G (training mode: batch statistics, one power
  iteration), each discriminator, and level 1 in sampling and training modes."""
  level1, level2 = _chain(kind)
  rng = np.random.default_rng(0)
  shapes = config_lib.level_shapes(level2)
  fg = models.build_generator(level2, rngs=nnx.Rngs(0))
  fd = models.build_discriminators(level2, rngs=nnx.Rngs(1))
  f1 = models.build_generator(level1, rngs=nnx.Rngs(2))
  tg, td, t1 = (tr.build_generator(level2), tr.build_discriminators(level2),
                tr.build_generator(level1))
  # Built from the configs alone, before any weights are copied.
  for name, f, t in (("G2", fg, tg), ("D2", fd, td), ("G1", f1, t1),
                     ("D_S", fd.spatial, td.spatial), ("D_T", fd.temporal, td.temporal),
                     ("D_M", fd.matching, td.matching)):
    assert tr.count_parameters(t) == _param_count(f), name
  _standing_stats(f1, rng)
  for t, f in ((tg, fg), (td, fd), (t1, f1)):
    tr.load_from_flax(t, f)  # raises on any layer whose shape or kind differs

  b = 3
  z = rng.normal(size=(b, level2.model.g.z_dim)).astype(np.float32)
  labels = rng.integers(0, shapes.num_classes, b).astype(np.int32)
  low = rng.uniform(-1, 1, (b, shapes.input_train_frames, shapes.input_resolution,
                            shapes.input_resolution, 3)).astype(np.float32)
  out_f = np.asarray(fg(z, low, labels))
  out_t = _n(tg(torch.from_numpy(z), _t(low), torch.from_numpy(labels).long()))
  assert out_f.shape == (b, shapes.train_frames, shapes.resolution, shapes.resolution, 3)
  _assert_close(out_t, out_f, 0, 2e-5, "G2 output")
  _assert_same_buffers(fg, tg, "G2 after the power iteration")

  video = rng.uniform(-1, 1, (b, shapes.train_frames, shapes.resolution, shapes.resolution,
                              3)).astype(np.float32)
  key = jax.random.key(3)
  _, idx = select_frames(video, min(level2.model.d.spatial_frames, shapes.train_frames), key)
  scores_f = fd(video, labels, key=key, video_low=low)
  scores_t = td(_t(video), torch.from_numpy(labels).long(), _t(low),
                torch.from_numpy(np.array(idx)).long())
  assert set(scores_t) == set(scores_f) == {"spatial", "temporal", "matching"}
  for name in scores_f:
    _assert_close(scores_t[name].detach(), scores_f[name], 1e-5, 1e-5, f"D scores {name}")
  _assert_same_buffers(fd, td, "D after the power iteration")

  z1 = rng.normal(size=(b, level1.model.g.z_dim)).astype(np.float32)
  for mode, torch_mode in ((sampling_view, t1.eval), (training_view, t1.train)):
    torch_mode()
    out_f = np.asarray(mode(f1)(z1, labels))
    out_t = _n(t1(torch.from_numpy(z1), torch.from_numpy(labels).long()))
    _assert_close(out_t, out_f, 0, 2e-5, f"G1 output, {mode.__name__}")


def _jax_draws(config, lower_levels, step, batch):
  """The random draws of hvg_jax's train step (train/step.py, chain/generate.py), made
  outside it from the same keys, for the torch trainer to replay."""
  shapes = config_lib.level_shapes(config)
  t = config.train
  key = jax.random.fold_in(state_lib.keys(config.seed)["train"], step)
  draws = []
  for j in range(t.d_steps + 1):
    k_fake, k_d = jax.random.split(jax.random.fold_in(key, j))
    k_z, k_y, k_low = jax.random.split(k_fake, 3)
    b = batch
    labels = jax.random.randint(k_y, (b,), 0, shapes.num_classes)
    k_start, k_zs = jax.random.split(k_low)
    frames = lower_levels.levels[-1].stats_frames
    starts = jax.random.randint(k_start, (b,), 0, frames - lower_levels.window + 1)
    lower_zs = gen.noise(k_zs, lower_levels.levels, b)
    d_batch = 2 * b if j < t.d_steps else b  # D steps judge [real; fake]
    k = min(config.model.d.spatial_frames, shapes.train_frames)
    _, idx = select_frames(jnp.zeros((d_batch, shapes.train_frames, 1, 1, 1)), k, k_d)
    to_t = lambda x: torch.from_numpy(np.array(x)).long()  # noqa: E731
    draws.append({"z": torch.from_numpy(np.array(jax.random.normal(
                      k_z, (b, config.model.g.z_dim)))),
                  "labels": to_t(labels), "spatial_idx": to_t(idx), "starts": to_t(starts),
                  "lower_zs": [torch.from_numpy(np.array(x)) for x in lower_zs]})
  return draws


@pytest.mark.slow
def test_one_training_iteration_equals_hvg_jax():
  """hvg_jax's jitted step and the torch trainer from the same weights and draws: the
  same losses and gradient norms, and the same parameters and spectral-norm vectors
  after 2 D updates and 1 G update with Adam; the frozen level 1 unchanged. On the
  runlocal chain: its step is the program the benchmark script test compiles too."""
  level1, level2 = _chain("runlocal")
  mesh = runtime.make_mesh(jax.devices()[:1])
  # Frozen level 1 with standing statistics from one pass (random ones saturate tanh).
  (lv1,) = programs.random_levels([level1])
  length = lv1.stats_frames
  z1 = jax.random.normal(jax.random.key(5), (8, level1.model.g.z_dim))
  lv1.stats = gen.batch_statistics(lv1, lv1.params, length, z1, None,
                                   jnp.arange(8) % level1.data.num_classes)
  lower_levels = gen.LowerLevels([lv1], config_lib.level_shapes(level2).input_train_frames)
  graphdef, state = state_lib.initial_state(level2, mesh)
  gan = nnx.merge(graphdef, state)
  tg, td = tr.build_generator(level2), tr.build_discriminators(level2)
  tr.load_from_flax(tg, gan.generator)
  tr.load_from_flax(td, gan.discriminators)
  t1 = tr.build_generator(level1)
  tr.load_from_flax(t1, nnx.merge(lv1.graphdef, lv1.params, lv1.stats))
  t1_before = {k: v.clone() for k, v in t1.state_dict().items()}

  batch = programs.synthetic_batch(level2, mesh)
  train_step = step_lib.make_train_step(level2, graphdef, mesh, lower_levels)
  draws = _jax_draws(level2, lower_levels, 0, level2.train.batch_size)
  new_state, metrics = train_step(state, batch, lower_levels.arrays)
  metrics = jax.device_get(metrics)
  after = nnx.merge(graphdef, new_state)

  trainer = tr.Trainer(level2, generator=tg, discriminators=td,
                       lower_levels=[tr.FrozenLevel(level1, t1, length)])
  trainer.draw = lambda j, b: draws[j]
  video = np.array(batch["video"])
  torch_batch = {"video": torch.from_numpy(video).permute(0, 1, 2, 5, 3, 4),
                 "label": torch.from_numpy(np.array(batch["label"])).long()}
  torch_metrics = trainer.step(torch_batch)

  assert bool(torch_metrics.pop("finite"))
  assert set(torch_metrics) == set(metrics), set(torch_metrics) ^ set(metrics)
  for name, value in metrics.items():
    _assert_close(float(torch_metrics[name]), value, 2e-4, 1e-6, f"metric {name}")
  report = {}
  for name, flax_module, torch_module, lr in (
      ("G", after.generator, tg, level2.train.g_lr),
      ("D", after.discriminators, td, level2.train.d_lr)):
    expected = _as_torch(flax_module, torch_module)
    got_params = dict(torch_module.named_parameters())
    worst = 0.0
    for pname, want in expected.named_parameters():
      got = got_params[pname].detach().numpy()
      want = want.detach().numpy()
      # Adam's first steps move every weight by about lr * sign(gradient): float32
      # rounding can only matter for weights whose gradient is near zero.
      worst = max(worst, float(np.max(np.abs(got - want))))
      # A projection head's bias gets an exactly zero gradient while every score is inside
      # the hinge margin (as at initialisation: -(#real) + (#fake) = 0); Adam then steps
      # by rounding noise / (|noise| + eps), up to lr, which no two implementations share.
      atol = 2 * lr if pname.endswith("head.linear.bias") else 1e-5
      np.testing.assert_allclose(got, want, rtol=0, atol=atol, err_msg=f"{name} {pname}")
    report[name] = worst
    for (bname, want), (_, got) in zip(expected.named_buffers(),
                                       torch_module.named_buffers()):
      _assert_close(got.numpy(), want.numpy(), 0, 1e-5, f"{name} buffer {bname}")
  print("max |param difference| after one iteration:", report)
  for k, v in t1.state_dict().items():
    assert torch.equal(v, t1_before[k]), f"the frozen level 1 changed: {k}"


def test_a_torch_iteration_runs_and_changes_only_the_trained_networks():
  """Own randomness (torch's), float32 and bfloat16 autocast: finite losses, G and D
  parameters changed, the frozen lower level untouched and without gradients."""
  level1, level2 = _chain("runlocal")
  torch.manual_seed(0)
  for dtype in ("float32", "bfloat16"):
    trainer = tr.Trainer(level2, [level1], dtype=dtype)
    lower = trainer.lower.levels[0].generator
    before = {n: {k: v.clone() for k, v in m.state_dict().items()}
              for n, m in (("G", trainer.generator), ("D", trainer.discriminators),
                           ("lower", lower))}
    metrics = trainer.step(tr.synthetic_batch(level2, "cpu"))
    assert bool(metrics["finite"]), metrics
    for name in ("d_loss", "g_loss", "grad_norm/d", "grad_norm/g"):
      assert np.isfinite(float(metrics[name])) and float(metrics[name]) != 0, name
    for name, module in (("G", trainer.generator), ("D", trainer.discriminators)):
      unchanged = [k for k, v in module.named_parameters()
                   if torch.equal(v, before[name][k])]
      # Only a projection head's bias may keep its value: its gradient is exactly zero
      # while all scores are inside the hinge margin (see the test above).
      assert all(k.endswith("head.linear.bias") for k in unchanged), (name, dtype, unchanged)
    for k, v in lower.state_dict().items():
      assert torch.equal(v, before["lower"][k]), f"frozen level 1 changed: {k}"
    assert all(p.grad is None and not p.requires_grad for p in lower.parameters())


@pytest.mark.slow
def test_the_benchmark_script_times_jax_and_torch_in_one_run(tmp_path):
  """JAX and torch eager on the tiny chain. torch.compile is left out here: inductor
  compiles 8 graphs (G and D with and without gradients, their backward passes, level 1)
  through gcc, minutes on 2 cores; run the script without --only to time it."""
  out = subprocess.run(
      [PYTHON, "benchmarks/torch_level2.py", "--config=configs/demo.py:runlocal",
       "--level=2", "--batch_per_device=4", "--steps=1", "--warmup=1", "--device=cpu",
       "--torch_threads=1", "--only=jax,torch_eager", f"--output={tmp_path / 'out.json'}"],
      cwd=REPO, capture_output=True, text=True, env=subprocess_env(), timeout=600)
  assert out.returncode == 0, out.stderr[-3000:]
  result = json.loads((tmp_path / "out.json").read_text())
  assert (result["config"], result["level"], result["batch"], result["dtype"]) == (
      "demo_level2", 2, 4, "float32")
  for name in ("jax", "torch_eager"):
    r = result[name]
    assert len(r["iteration_s_all"]) == 1 and r["iteration_s"] > 0, name
    assert np.isfinite(r["d_loss"]) and np.isfinite(r["g_loss"]), name
  assert result["torch_eager"]["finite"] and "torch_compile" not in result
  assert result["jax"]["flops_per_iteration"] > 1e6
  assert result["ratios"] == {"torch_eager_over_jax": result["torch_eager"]["iteration_s"]
                              / result["jax"]["iteration_s"]}
  assert "torch eager" in out.stdout and "hvg_jax (jit)" in out.stdout


def test_the_benchmark_script_rejects_a_level_alone():
  out = subprocess.run(
      [PYTHON, "benchmarks/torch_level2.py", "--config=configs/demo_level2.py:runlocal",
       "--device=cpu"], cwd=REPO, capture_output=True, text=True, env=subprocess_env(),
      timeout=300)
  assert out.returncode != 0 and "a chain config" in out.stderr


def test_lower_level_windows_of_a_three_level_chain_equal_hvg_jax():
  """Level 3's input: level 2 run on per-sample chunks of level 1's whole video with
  per-sample slices of its standing statistics (chain/generate.py's windows)."""
  levels = programs.random_levels(config_lib.chain_levels(
      config_lib.load_config(CONFIG_DIR / "ssw_bdd_chain.py", "runlocal"))[:2])
  rng = np.random.default_rng(0)
  torch_levels = []
  for lv in levels:
    lv.stats = jax.tree.map(lambda s: jnp.ones_like(s) if s.ndim == 0 else jnp.asarray(
        rng.uniform(0.5, 1.5, s.shape), s.dtype), lv.stats)
    g = tr.build_generator(lv.config)
    tr.load_from_flax(g, nnx.merge(lv.graphdef, lv.params, lv.stats))
    torch_levels.append(tr.FrozenLevel(lv.config, g, lv.stats_frames))
  assert torch_levels[1].input_margin() == gen.input_margin(levels[1]) > 0
  window = 6
  zs = gen.noise(jax.random.key(1), levels, 3)
  starts = jnp.array([0, 17, levels[-1].stats_frames - window])  # both ends and inside
  want = gen.windows(levels, [lv.arrays for lv in levels], zs, None, starts, window)
  got = tr.windows(torch_levels, [torch.from_numpy(np.array(z)) for z in zs], None,
                   torch.from_numpy(np.array(starts)).long(), window)
  _assert_close(_n(got), want, 0, 5e-5, "level-2 windows")
