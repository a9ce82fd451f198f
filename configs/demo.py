r"""The built-in demo: a 2-level chain on procedural videos, trained on a laptop CPU.

Level 1 (configs/demo_level1.py) makes 8/16x16 videos of four kinds of bouncing shapes
(the class) over textured backgrounds; level 2 (configs/demo_level2.py) upsamples them to
16/32x32, trained on 4-frame windows. Each level trains in <workdir>/level<k>, then the
chain's samples go to <workdir>/samples/index.html.

  python -m hvg_jax.main --config=configs/demo.py --workdir=workdirs/demo
"""
import pathlib

from hvg_jax import config_lib

_HERE = pathlib.Path(__file__).parent


def get_config(arg=None):
  c = config_lib.chain_config("demo", [_HERE / "demo_level1.py", _HERE / "demo_level2.py"],
                              arg)
  if not c.levels.level1.runlocal:
    # The chain's final evaluation: 48 clips of the whole 16-frame top-level video (about
    # 1.5 minutes of I3D on 2 CPU cores, real clips included).
    c.eval.update(num_clips=48, clip_frames=16)
  return c
