"""Where the networks change resolution, from their sizes alone.

Generators start from a 4x4 latent and double the resolution in units (HVG B.1, DVD-GAN
B.2). A level-1 generator has one unit that keeps the resolution (HVG: the last, DVD-GAN:
the first); the papers' upsampling generators have exactly one unit per doubling (e.g.
6 units for 4 -> 256 px).

Discriminators halve the resolution in every block but the last, as BigGAN's do, and never
below 4x4: the temporal and matching discriminators see 2x-pooled or low-resolution videos,
and the papers' 32 px level-1 discriminators have five blocks, which would otherwise reduce
them below a pixel.
"""

MIN_RESOLUTION = 4


def doublings(resolution: int) -> int:
  """Number of 2x steps from 4x4 to ``resolution``; raises unless it is 4 * 2^k."""
  k, r = 0, MIN_RESOLUTION
  while r < resolution:
    r, k = 2 * r, k + 1
  if r != resolution:
    raise ValueError(f"resolution {resolution} is not 4 * 2^k (8, 16, 32, 64, ...)")
  return k


def generator_units(resolution: int, upsampling_level: bool) -> int:
  """Number of generator units (entries of the width multipliers) for ``resolution``."""
  return doublings(resolution) + (0 if upsampling_level else 1)


def generator_upsampling(num_units: int, resolution: int, keep_unit: str | None) -> list[bool]:
  """Which units upsample. ``keep_unit``: 'last' or 'first' unit keeps the resolution, or
  None when every unit upsamples (upsampling levels)."""
  n_up = doublings(resolution)
  n_keep = num_units - n_up
  if n_keep < 0:
    raise ValueError(f"{num_units} units cannot reach {resolution} px from 4x4")
  if keep_unit == "first":
    return [False] * n_keep + [True] * n_up
  if keep_unit in ("last", None):
    return [True] * n_up + [False] * n_keep
  raise ValueError(f"keep_unit must be 'first', 'last' or None, got {keep_unit!r}")


def discriminator_downsampling(num_blocks: int, resolution: int) -> list[bool]:
  """Which of ``num_blocks`` blocks halve a ``resolution`` px input."""
  out, r = [], resolution
  for i in range(num_blocks):
    down = i < num_blocks - 1 and r // 2 >= MIN_RESOLUTION
    out.append(down)
    r = r // 2 if down else r
  return out


def discriminator_min_blocks(resolution: int) -> int:
  """Blocks a discriminator needs to bring ``resolution`` down to 4x4 (plus its last)."""
  return doublings(resolution) + 1
