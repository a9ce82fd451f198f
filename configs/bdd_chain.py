r"""BDD100K 3-level HVG 256: every level, trained one after another.

Levels: configs/bdd_level1.py, configs/bdd_level2.py, configs/bdd_level3.py.

  python -m hvg_jax.main --config=configs/bdd_chain.py --workdir=gs://bucket/bdd

Level k trains in <workdir>/level<k> on the frozen levels below it; the same command
resumes an interrupted chain. Override a level's fields as
--config.levels.level2.train.num_steps=...
"""
import pathlib

from hvg_jax import config_lib

_HERE = pathlib.Path(__file__).parent


def get_config(arg=None):
  return config_lib.chain_config(
      "bdd", [_HERE / "bdd_level1.py", _HERE / "bdd_level2.py", _HERE / "bdd_level3.py"], arg)
