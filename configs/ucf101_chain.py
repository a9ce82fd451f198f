r"""UCF101 2-level CVG: every level, trained one after another.

Levels: configs/ucf101_level1.py, configs/ucf101_level2.py.

  python -m hvg_jax.main --config=configs/ucf101_chain.py --workdir=gs://bucket/ucf101

Level k trains in <workdir>/level<k> on the frozen levels below it; the same command
resumes an interrupted chain. Override a level's fields as
--config.levels.level2.train.num_steps=...
"""
import pathlib

from hvg_jax import config_lib

_HERE = pathlib.Path(__file__).parent


def get_config(arg=None):
  return config_lib.chain_config(
      "ucf101", [_HERE / "ucf101_level1.py", _HERE / "ucf101_level2.py"], arg)
