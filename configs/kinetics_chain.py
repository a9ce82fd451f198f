r"""Kinetics-600 2-level HVG/CVG: every level, trained one after another.

Levels: configs/kinetics_level1.py, configs/kinetics_level2.py.

  python -m hvg_jax.main --config=configs/kinetics_chain.py --workdir=gs://bucket/kinetics

Level k trains in <workdir>/level<k> on the frozen levels below it; the same command
resumes an interrupted chain. Override a level's fields as
--config.levels.level2.train.num_steps=...
"""
import pathlib

from hvg_jax import config_lib

_HERE = pathlib.Path(__file__).parent


def get_config(arg=None):
  return config_lib.chain_config(
      "kinetics", [_HERE / "kinetics_level1.py", _HERE / "kinetics_level2.py"], arg)
