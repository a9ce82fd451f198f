r"""What an untrained chain's FVD is made of, and the floor of real clips against real clips:
the Fréchet distance split into its mean term |mu_g - mu_r|^2 and the rest (the
covariances'), with a chain config's final evaluation settings.

  python experiments/untrained_fvd.py --chain_config=configs/video_folder.py \
      --data=~/hvg_data:0,~/hvg_data_classes:3

--data: data folders, each with its num_classes; for each, the untrained chain (random
generators with standing statistics, as experiments/trained_vs_untrained.py) is scored,
and for the first, real clips drawn with evaluation seeds 1 and 2 against seed 0's.
--trained=<chain workdir>[,...]: the same split for trained chains, on their own data.
"""

import argparse
import pathlib
import sys
import types

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import hierarchy  # pylint: disable=wrong-import-position
from hvg_jax import config_lib, runtime, video_io  # pylint: disable=wrong-import-position
from hvg_jax.chain import levels as chain_levels  # pylint: disable=wrong-import-position
from hvg_jax.eval import evaluation, frechet  # pylint: disable=wrong-import-position


def terms(generated: np.ndarray, real: np.ndarray) -> str:
  a, b = frechet.fit(generated), frechet.fit(real)
  d = frechet.distance(a, b)
  mean = float(np.sum((a.mean - b.mean) ** 2))
  return (f"FVD {d:.1f} = mean term {mean:.1f} + covariance term {d - mean:.1f} "
          f"(trace {np.trace(a.cov):.1f} against the real clips' {np.trace(b.cov):.1f})")


def split(chain, levels, mesh, seed=0):
  """(the FVD split of ``levels``' videos against the real clips, the real clips' I3D
  logits) with ``chain``'s evaluation settings."""
  s = evaluation.checked(hierarchy.eval_settings(chain, levels[-1], metrics="fvd",
                                                 seed=seed), levels)
  ev = evaluation.Evaluator(s, mesh=mesh, progress=False)
  real = ev.real(levels[-1].config)["i3d"]["logits"]
  generated = [ev.embedder(video_io.to_uint8(videos[-1])[:s.num_clips - start,
                                                         :s.clip_frames])["logits"]
               for start, videos, _ in ev.generate(levels, s) if start < s.num_clips]
  return terms(np.concatenate(generated), real), real


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--chain_config", required=True)
  parser.add_argument("--data", default="", help="dir:num_classes,...")
  parser.add_argument("--trained", default="", help="chain workdir,...")
  args = parser.parse_args()
  if not (args.data or args.trained):
    parser.error("name what to split: --data=<dir>:<num_classes>,... and/or --trained=<workdir>")
  mesh = runtime.make_mesh()
  for workdir in filter(None, args.trained.split(",")):
    levels = chain_levels.load(workdir)
    chain = config_lib.load_config(args.chain_config)
    data = levels[-1].config.data
    chain.data.update(dir=data.dir, num_classes=data.num_classes)
    print(f"{workdir} ({data.num_classes} classes), trained chain: "
          f"{split(chain, levels, mesh)[0]}", flush=True)
  for i, item in enumerate(filter(None, args.data.split(","))):
    data_dir, _, classes = item.rpartition(":")
    chain = config_lib.load_config(args.chain_config)
    chain.data.update(dir=str(pathlib.Path(data_dir).expanduser()), num_classes=int(classes))
    levels = hierarchy.untrained_levels(
        [types.SimpleNamespace(config=c) for c in config_lib.chain_levels(chain)])
    text, real = split(chain, levels, mesh)
    print(f"{data_dir} ({classes} classes), untrained chain: {text}", flush=True)
    if i == 0:
      for seed in (1, 2):
        settings = evaluation.checked(hierarchy.eval_settings(
            chain, levels[-1], metrics="fvd", seed=seed), levels)
        other = evaluation.Evaluator(settings, mesh=mesh, progress=False).real(
            levels[-1].config)
        print(f"  real clips, seed {seed} against seed 0: "
              f"{terms(other['i3d']['logits'], real)}", flush=True)


if __name__ == "__main__":
  main()
