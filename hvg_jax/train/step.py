"""One training iteration of a level: ``d_steps`` discriminator updates, then one of G.

The hinge losses: hvg_jax.train.losses. D sees real and generated videos in one call, so
both halves are judged with the same spectrally normalised weights. Every training-mode
call advances spectral norm's power iteration (D's once per D step and once in the G
step; G's in every pass), as in BigGAN's PyTorch code. Each D step takes its own real
batch and fresh noise; generated classes are drawn uniformly. All randomness comes from
fold_in(train key, step): a resumed run draws exactly what the uninterrupted one did.

The update is one jitted function over the mesh: the batch is split over ``data``,
parameters are replicated, so gradients are averaged over the global batch and BatchNorm
statistics (means over the batch axis) are those of the global batch. An upsampling
level's generated inputs (windows of x̂^{l-1} from the frozen levels below, with their
classes) come from a jitted program of their own run just before it: the lower levels'
whole-video buffers then never add to the update's, whose memory stays the same however
long the lower levels' videos are (HVG Figure 5).
"""

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import optax
from flax import nnx

from hvg_jax import config_lib, runtime, video_ops
from hvg_jax.layers import SpectralVector
from hvg_jax.train import augment
from hvg_jax.train import state as state_lib
from hvg_jax.train.losses import generator_loss, hinge_losses, to_float


class Examples(NamedTuple):
  """One side of what D judges: videos, their classes and (upsampling) their lower views;
  None where a level has none."""
  video: Any
  labels: Any
  low: Any


@dataclasses.dataclass(frozen=True)
class TrainStep:
  """A level's training iteration: ``step(state, batch, lower) -> (state, metrics)``.

  ``update`` (jitted, donates ``state``) is the D and G updates; an upsampling level's
  ``inputs`` (jitted) first generates every D/G step's fake classes and x̂^{l-1} windows
  from ``lower`` (the frozen levels' arrays, as ``LowerLevels.arrays``) and the step count.
  """
  update: Any
  inputs: Any = None

  def generated_inputs(self, state, lower):
    return None if self.inputs is None else self.inputs(lower, state.step)

  def __call__(self, state, batch, lower):
    return self.update(state, batch, self.generated_inputs(state, lower))

  def lower(self, state, batch, lower):
    """The lowered update (arguments concrete or abstract); the inputs program is not run."""
    inputs = None if self.inputs is None else jax.eval_shape(self.inputs, lower, state.step)
    return self.update.lower(state, batch, inputs)

  def compile(self, state, batch, lower) -> "CompiledTrainStep":
    inputs = None if self.inputs is None else self.inputs.lower(lower, state.step).compile()
    return CompiledTrainStep(self.lower(state, batch, lower).compile(), inputs)


@dataclasses.dataclass(frozen=True)
class CompiledTrainStep(TrainStep):
  """A TrainStep compiled ahead of time; ``programs`` for their cost and memory analyses
  (the inputs program, where there is one, runs first)."""

  @property
  def programs(self) -> list:
    return [p for p in (self.inputs, self.update) if p is not None]


def make_train_step(config: ml_collections.ConfigDict, graphdef, mesh,
                    lower_levels=None) -> TrainStep:
  """Returns ``step(state, batch, lower) -> (state, metrics)``; ``state`` is donated.

  ``batch`` is {"video": uint8 (d_steps, B, T, R, R, 3), "label": int32 (d_steps, B)}.
  An upsampling level's ``lower_levels`` (hvg_jax.chain.generate.LowerLevels) generates the
  windows of x̂^{l-1} from ``lower`` (its ``arrays``: the frozen levels' weights, an
  argument rather than constants baked into the program; no gradient reaches them). Level
  1 passes ``lower=None``.
  """
  shapes = config_lib.level_shapes(config)
  t = config.train
  z_dim = config.model.g.z_dim
  all_real = shapes.upsampling and t.real_inputs == 1.0  # no generated inputs at all
  if shapes.upsampling and lower_levels is None and not all_real:
    raise config_lib.ConfigError(
        f"config.level: level {config.level} trains on videos its frozen lower levels "
        "generate; give it their generators (lower_levels)")
  data_split = runtime.per_example(mesh)
  base_key = state_lib.keys(config.seed)["train"]
  policy = augment.parse(t.d_augment)

  def split_batch(x):
    return jax.lax.with_sharding_constraint(x, data_split)

  def iteration_keys(step_count):
    """(k_fake, k_d) of every D step and then of the G step."""
    key = jax.random.fold_in(base_key, step_count)
    return [jax.random.split(jax.random.fold_in(key, j)) for j in range(t.d_steps + 1)]

  def draw_labels(key, batch):
    """Uniform classes of generated videos (None for an unconditional level)."""
    if not shapes.num_classes:
      return None
    return split_batch(jax.random.randint(key, (batch,), 0, shapes.num_classes))

  def lower_inputs(lower, step_count):
    """Every D/G step's fake classes and generated x̂^{l-1} windows, stacked: one step's
    at a time (lax.map), so the lower levels' buffers are those of one step's batch."""
    k_fakes = jnp.stack([k_fake for k_fake, _ in iteration_keys(step_count[...])])

    def one(k_fake):
      _, k_y, k_low = jax.random.split(k_fake, 3)
      labels = draw_labels(k_y, t.batch_size)
      return {"label": labels,
              "low": lower_levels(lower, k_low, labels, t.batch_size, split_batch)}

    return jax.lax.map(one, k_fakes)

  def sample_inputs(j, k_fake, batch, inputs):
    """Noise and the classes and input video of step j's fakes (generated videos are
    never differentiated into the lower levels)."""
    k_z, k_y, _ = jax.random.split(k_fake, 3)
    z = split_batch(jax.random.normal(k_z, (batch, z_dim)))
    if not shapes.upsampling:
      return z, draw_labels(k_y, batch), None
    if inputs is None:  # real_inputs = 1: every input is a real one (with_real_inputs)
      return z, None, None
    labels = None if inputs["label"] is None else inputs["label"][j]
    return z, labels, jax.lax.stop_gradient(inputs["low"][j])

  def with_real_inputs(k_fake, labels, low, real_labels, real_low):
    """config.train.real_inputs: each generated example's input (and class) is, with that
    probability, the real lower view of a clip of this step's real batch instead of the
    frozen levels' output."""
    if not t.real_inputs:
      return labels, low
    if all_real:
      return real_labels, real_low
    use_real = jax.random.bernoulli(jax.random.fold_in(k_fake, 1), t.real_inputs,
                                    (low.shape[0],))
    low = jnp.where(use_real[:, None, None, None, None], real_low.astype(low.dtype), low)
    if labels is not None:
      labels = jnp.where(use_real, real_labels, labels)
    return labels, low

  def generate(g, z, labels, low):
    return g(z, low, labels) if shapes.upsampling else g(z, labels)

  def d_loss_fn(d, real: Examples, fake: Examples, key):
    batch = real.video.shape[0]
    video = jnp.concatenate([real.video, fake.video])
    labels = None if real.labels is None else jnp.concatenate([real.labels, fake.labels])
    low = None if real.low is None else jnp.concatenate([real.low, fake.low])
    scores = augment.scores(d, video, labels, key=key, video_low=low, policy=policy)
    return hinge_losses(scores, batch)

  def g_loss_fn(g, d, z, labels, low, key):
    scores = augment.scores(d, generate(g, z, labels, low), labels, key=key, video_low=low,
                            policy=policy)
    return generator_loss(scores)

  def d_update(gan, j, keys, batch, inputs, metrics):
    """D step j on real batch j and fresh fakes; adds its losses and gradient norm,
    averaged over the D steps, to ``metrics``. Returns the real batch's classes and lower
    view (the G step's real inputs)."""
    k_fake, k_d = keys
    real = to_float(batch["video"][j])
    real_labels = batch["label"][j] if shapes.num_classes else None
    real_low = None
    if shapes.upsampling:
      real_low = video_ops.downsample_video(real, shapes.time_factor, shapes.input_resolution)
    z, fake_labels, fake_low = sample_inputs(j, k_fake, real.shape[0], inputs)
    if shapes.upsampling:
      fake_labels, fake_low = with_real_inputs(k_fake, fake_labels, fake_low, real_labels,
                                               real_low)
    fake = jax.lax.stop_gradient(generate(gan.generator, z, fake_labels, fake_low))
    d_grad = nnx.value_and_grad(d_loss_fn, argnums=nnx.DiffState(0, nnx.Param), has_aux=True)
    (d_loss, parts), grads = d_grad(gan.discriminators, Examples(real, real_labels, real_low),
                                    Examples(fake, fake_labels, fake_low), k_d)
    gan.d_optimizer.update(gan.discriminators, grads)
    parts = dict(parts, d_loss=d_loss, **{"grad_norm/d": optax.tree.norm(grads)})
    for name, value in parts.items():
      metrics[name] = metrics.get(name, 0.0) + value / t.d_steps
    return real_labels, real_low

  def g_update(gan, keys, inputs, real_labels, real_low, metrics):
    """The G step (an upsampling level's real inputs from the last D step's batch)."""
    k_fake, k_d = keys
    z, labels, low = sample_inputs(t.d_steps, k_fake, t.batch_size, inputs)
    if shapes.upsampling:
      labels, low = with_real_inputs(k_fake, labels, low, real_labels, real_low)
    g_loss, grads = nnx.value_and_grad(g_loss_fn, argnums=nnx.DiffState(0, nnx.Param))(
        gan.generator, gan.discriminators, z, labels, low, k_d)
    gan.g_optimizer.update(gan.generator, grads)
    metrics["g_loss"] = g_loss
    metrics["grad_norm/g"] = optax.tree.norm(grads)

  def ema_update(gan):
    """The EMA of G's parameters; its spectral-norm vectors are G's."""
    # Before ema_start the average just follows G (decay 0), as DVD-GAN's from step 20k.
    decay = jnp.where(gan.step[...] >= t.ema_start, t.ema_decay, 0.0)
    ema = optax.incremental_update(nnx.state(gan.generator, nnx.Param),
                                   nnx.state(gan.ema_generator, nnx.Param), 1.0 - decay)
    nnx.update(gan.ema_generator, ema, nnx.state(gan.generator, SpectralVector))

  def record_finiteness(gan, metrics):
    """Keeps the first step whose losses, gradients or updated parameters are not finite
    (the losses were computed before the updates: what the updates produced is checked
    too)."""
    params_norm = optax.tree.norm(nnx.state(gan, nnx.Param))
    finite = (jnp.isfinite(metrics["d_loss"]) & jnp.isfinite(metrics["g_loss"])
              & jnp.isfinite(metrics["grad_norm/d"]) & jnp.isfinite(metrics["grad_norm/g"])
              & jnp.isfinite(params_norm))
    first = gan.first_nonfinite_step[...]
    gan.first_nonfinite_step.set_value(
        jnp.where((first < 0) & ~finite, gan.step[...], first))

  def step(state, batch, inputs):
    gan = nnx.merge(graphdef, state)
    keys = iteration_keys(gan.step[...])
    metrics = {}
    for j in range(t.d_steps):
      real_labels, real_low = d_update(gan, j, keys[j], batch, inputs, metrics)
    g_update(gan, keys[t.d_steps], inputs, real_labels, real_low, metrics)
    if gan.ema_generator is not None:
      ema_update(gan)
    record_finiteness(gan, metrics)
    gan.step.set_value(gan.step[...] + 1)
    return nnx.state(gan), metrics

  # Pytree prefixes: state and lower levels replicated, every batch and inputs leaf (d_steps
  # or d_steps + 1, B, ...) split on axis 1.
  replicated, split = runtime.replicated(mesh), runtime.per_step_example(mesh)
  update = jax.jit(step, in_shardings=(replicated, split, split),
                   out_shardings=(replicated, replicated), donate_argnums=(0,))
  if not shapes.upsampling or all_real:
    return TrainStep(update)
  return TrainStep(update, jax.jit(lower_inputs, in_shardings=(replicated, replicated),
                                   out_shardings=split))
