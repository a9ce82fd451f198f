r"""BDD100K 3-stage SSW-GAN 128: every level, trained one after another.

Levels: configs/ssw_bdd_level1.py, configs/ssw_bdd_level2.py, configs/ssw_bdd_level3.py.

  python -m hvg_jax.main --config=configs/ssw_bdd_chain.py --workdir=gs://bucket/ssw_bdd

Level k trains in <workdir>/level<k> on the frozen levels below it; the same command
resumes an interrupted chain. Override a level's fields as
--config.levels.level2.train.num_steps=...
"""
import pathlib

from hvg_jax import config_lib

_HERE = pathlib.Path(__file__).parent


def get_config(arg=None):
  return config_lib.chain_config(
      "ssw_bdd", [_HERE / "ssw_bdd_level1.py", _HERE / "ssw_bdd_level2.py", _HERE / "ssw_bdd_level3.py"], arg)
