r"""Your own videos: the demo's 2-level chain on any folder of video files.

Level 1 makes 8/16x16 videos (every second frame), level 2 upsamples them to 16/32x32 on
4-frame windows: the demo's sizes (configs/demo_level*.py, whose fields this takes), in
7200 + 6400 steps, level 2 on the real clips' level-1 view (2 h 38 min on 2 CPU cores,
measured; README). Unconditional; --config.data.num_classes=N with prepare_data's
--class_from_folder for a class per first sub-folder. Two commands:

  python -m hvg_jax.prepare_data --config=configs/video_folder.py \
      --manual_dir=~/videos --data_dir=~/hvg_data
  python -m hvg_jax.main --config=configs/video_folder.py --config.data.dir=~/hvg_data \
      --workdir=workdirs/my_videos

The first stores every video once as 32 px clips of 16 frames (what both levels train on
and the evaluation reads); the second trains both levels, then writes
workdirs/my_videos/samples/index.html and metrics.json.
"""
import pathlib

from hvg_jax import config_lib

_HERE = pathlib.Path(__file__).parent


def get_config(arg=None):
  c = config_lib.chain_config("video_folder",
                              [_HERE / "demo_level1.py", _HERE / "demo_level2.py"], arg)
  c.data.update(name="video_folder", num_classes=0)  # every level; dir: the command line's
  for k in (1, 2):
    level = c.levels[f"level{k}"]
    level.name = f"video_folder_level{k}"
    # A folder holds a few dozen clips, which D memorises in a few hundred steps without
    # these (grey-brown blobs); mirrored clips and DiffAugment of what D sees learn the
    # clips' colours (RESULTS.md, "Real clips on a CPU").
    level.data.flip = True
    level.train.d_augment = "color,translation,cutout"
  # A departure from the papers, which train level 2 on level 1's output: on a few dozen
  # clips level 2 then learns only to copy level 1's blur (FVD no better than bilinear);
  # on the real clips' level-1 view it learns their detail (RESULTS.md, "Twice the steps
  # again, with level 2 on the real view"). 0.0 is the papers' behaviour.
  c.levels.level2.train.real_inputs = 1.0
  # The final evaluation: FVD, FID and IS of 48 clips of the top level's whole 16 frames
  # (about 1.5 minutes on 2 CPU cores, as the demo's), grounding and colour.
  if not c.levels.level1.runlocal:
    c.eval.update(num_clips=48, clip_frames=16)
    # Twelve times the demo's level-1 steps, sixteen times its level-2: 3600 + 1600 meets
    # the clips' colour histograms (TV 0.076/0.068) but FVD only 1.22x below an untrained
    # chain's (1.36x with level 2 on the real view); 7200 + 4800 1.85x, 7200 + 6400 2.09x
    # (RESULTS.md, "Real clips on a CPU").
    c.levels.level1.train.num_steps = 7200
    c.levels.level2.train.num_steps = 6400
  return c
