"""What one level trains on and produces, derived from its config (validated:
``config_lib.level_shapes``, which validates first)."""

import dataclasses

import ml_collections


@dataclasses.dataclass(frozen=True)
class LevelShapes:
  """What one level trains on and produces, derived from a validated config."""
  level: int
  num_classes: int
  resolution: int  # x^l frame size
  train_frames: int  # frames G outputs per training example (a window, or the video)
  video_frames: int  # frames of the whole x^l
  input_resolution: int | None = None  # x^{l-1} frame size (upsampling levels)
  input_train_frames: int | None = None  # input frames per training example
  input_video_frames: int | None = None  # frames of the whole x^{l-1}
  time_factor: int | None = None  # x^l frames per x^{l-1} frame

  @property
  def upsampling(self) -> bool:
    return self.level > 1


def compute(c: ml_collections.ConfigDict) -> LevelShapes:
  """The shapes of a config whose fields are known to be valid."""
  if c.level == 1:
    return LevelShapes(level=1, num_classes=c.data.num_classes,
                       resolution=c.data.resolution, train_frames=c.data.frames,
                       video_frames=c.data.frames)
  factor = c.model.input.subsample // c.data.subsample
  window = c.model.window or c.model.input.frames
  return LevelShapes(
      level=c.level, num_classes=c.data.num_classes, resolution=c.data.resolution,
      train_frames=window * factor, video_frames=c.data.frames,
      input_resolution=c.model.input.resolution, input_train_frames=window,
      input_video_frames=c.model.input.frames, time_factor=factor)
