r"""FVD, FID and colour of a trained chain against an untrained one (random generators of
the same configs, with standing statistics) on the same real clips, with a chain config's
final evaluation settings.

  python experiments/trained_vs_untrained.py --chain=workdirs/my_videos \
      --chain_config=configs/video_folder.py
"""

import argparse
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import hierarchy  # pylint: disable=wrong-import-position
from hvg_jax import config_lib, runtime  # pylint: disable=wrong-import-position
from hvg_jax.chain import levels as chain_levels  # pylint: disable=wrong-import-position
from hvg_jax.eval import evaluation  # pylint: disable=wrong-import-position


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--chain", required=True)
  parser.add_argument("--chain_config", required=True)
  parser.add_argument("--metrics", default="fvd,fid,colour")
  args = parser.parse_args()
  levels = chain_levels.load(args.chain)
  chain = config_lib.load_config(args.chain_config)
  settings = evaluation.checked(
      hierarchy.eval_settings(chain, levels[-1], metrics=args.metrics), levels)
  mesh = runtime.make_mesh()
  results = {}
  for name, model in (("trained", levels), ("untrained", hierarchy.untrained_levels(levels))):
    results[name] = evaluation.Evaluator(settings, mesh=mesh)(model).metrics
    print(f"\n{name}: " + ", ".join(f"{k} {v:.4g}" for k, v in results[name].items()))
  print(f"\nFVD untrained / trained: {results['untrained']['fvd'] / results['trained']['fvd']:.2f}")


if __name__ == "__main__":
  main()
