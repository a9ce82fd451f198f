"""Finishing a level: its sampling generator with standing statistics for its whole video,
saved in its workdir (hvg_jax.level.save_finished); also the best generator's statistics."""

import logging

import jax

from hvg_jax import config_lib
from hvg_jax import level as level_lib
from hvg_jax.chain.plan import SamplingError
from hvg_jax.chain.sampler import ChainSampler, chunk_memory_budget
from hvg_jax.train import state as state_lib
from hvg_jax.train.run import LevelRun


# The sampler's settings this module passes, as a level's config names them: its errors
# in training's terms (validated configs keep them in range; a guard, not a path).
CONFIG_FIELDS = {"passes": "config.sample.standing_passes",
                 "batch": "config.sample.standing_batch"}


def sampling_level(run: LevelRun, graphdef, state, step: int, *,
                   passes: int) -> level_lib.FrozenLevel:
  """The level's sampling generator (the EMA one when kept) with standing statistics for
  the level's whole video: ``passes`` passes of ``config.sample.standing_batch`` videos,
  split over the mesh (an upsampling level runs over the lower levels' whole videos in
  chunks, as sampling does)."""
  config = run.config
  levels = run.chain(graphdef, state, step)
  level = levels[-1]
  lengths = [lv.stats_frames for lv in levels[:-1]] + [config.data.frames]
  batch = config.sample.standing_batch
  logging.info("Computing standing statistics of %s for %d frames (%d passes of %d).",
               config.name, config.data.frames, passes, batch)
  sampler = ChainSampler(levels, mesh=run.mesh, progress=jax.process_index() == 0,
                         chunk_memory=chunk_memory_budget(config.sample.chunk_memory_mb))
  try:
    level.stats = sampler.standing_statistics(
        lengths, passes=passes, batch=batch, key=state_lib.keys(config.seed)["standing"],
        recompute=[len(levels) - 1])[-1]
  except SamplingError as e:
    raise config_lib.ConfigError(e.message(CONFIG_FIELDS.get(e.setting))) from None
  return level


def finish(run: LevelRun, graphdef, state, step: int):
  """Finishes the level: standing statistics for its whole video
  (``config.sample.standing_passes`` of ``standing_batch`` videos) and its sampling
  generator saved with them."""
  level = sampling_level(run, graphdef, state, step,
                         passes=run.config.sample.standing_passes)
  level_lib.save_finished(run.dir, level, step)
  logging.info("%s is finished: its generator is in %s.", run.config.name,
               run.dir.generator(step))
