"""The real data sets' readers, prepare_data, and the pipeline on prepared clips.

Every layout is made here with ffmpeg (the one imageio-ffmpeg ships), small: a few videos
of 20 frames, one corrupt file and one too short.
"""

import json
import shlex
import socket
import subprocess
import warnings

import imageio_ffmpeg
import numpy as np
import pytest

from conftest import CONFIG_DIR, PYTHON, REPO, subprocess_env
from hvg_jax import config_lib
from hvg_jax.data import prepare as prepare_data
from hvg_jax.data import datasets, pipeline
from hvg_jax.eval import evaluation

CODECS = {".mp4": "libx264", ".mov": "libx264", ".mkv": "libx264", ".avi": "mpeg4",
          ".webm": "libvpx"}
CLIP = 8  # frames per stored clip in these tests


def write_video(path, frames: np.ndarray, fps: float = 10.0):
  path.parent.mkdir(parents=True, exist_ok=True)
  codec = CODECS[path.suffix]
  params = {"mpeg4": ["-q:v", "2"], "libvpx": ["-b:v", "2M"]}.get(codec, ["-crf", "10"])
  writer = imageio_ffmpeg.write_frames(
      str(path), (frames.shape[2], frames.shape[1]), fps=fps, codec=codec,
      macro_block_size=1, output_params=params + ["-loglevel", "error"])
  with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=".*fork.*")
    writer.send(None)
  for frame in frames:
    writer.send(np.ascontiguousarray(frame))
  writer.close()


def encoded_frames(n=20, height=48, width=64):
  """Frame t: red = 12 (t + 1) everywhere; green = the column, blue = the row, as ramps."""
  frames = np.zeros((n, height, width, 3), np.uint8)
  frames[..., 0] = (12 * (np.arange(n) + 1))[:, None, None]
  frames[..., 1] = np.round(np.linspace(0, 255, width))[None, None, :]
  frames[..., 2] = np.round(np.linspace(0, 255, height))[None, :, None]
  return frames


def frame_index(video):
  """The frame indices encoded in decoded frames (red averaged over each frame)."""
  return np.round(np.asarray(video, float)[..., 0].mean(axis=(1, 2)) / 12.0) - 1


def corrupt(path):
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_bytes(np.random.default_rng(0).bytes(4000))


def _prepare(dataset, manual_dir, data_dir, **options):
  return prepare_data.prepare(dataset, manual_dir, data_dir, size=16, clip_frames=CLIP,
                              **options)


def _clips(data_dir, name, split):
  (storage,) = datasets.prepared_configs(name, data_dir)
  source, _ = datasets.load_source(name, data_dir, storage, split)
  return [source[i] for i in range(len(source))]


def _reasons(builder):
  def kind(reason):
    if reason.startswith("too short"):
      return "too short"
    return "no file" if "no video file" in reason else "unreadable"
  return sorted(kind(reason) for _, reason in builder.skipped)


def test_bdd100k_reader(tmp_path):
  m = tmp_path / "bdd100k"
  for name in ("a", "b"):
    write_video(m / "videos" / "train" / f"{name}.mov", encoded_frames(20))
  write_video(m / "videos" / "val" / "c.mov", encoded_frames(16))
  write_video(m / "videos" / "train" / "short.mov", encoded_frames(5))
  corrupt(m / "videos" / "train" / "broken.mov")
  builder = _prepare("bdd100k", m, tmp_path / "tfds")
  assert builder.read == 4 and _reasons(builder) == ["too short", "unreadable"]
  train = _clips(tmp_path / "tfds", "bdd100k", "train")
  val = _clips(tmp_path / "tfds", "bdd100k", "validation")
  assert len(train) == 4 and len(val) == 2  # 20 frames: 2 clips of 8; 16: 2
  for clip in train + val:
    assert clip["video"].shape == (CLIP, 16, 22, 3) and clip["label"] == 0
  # Frames in order, each clip a run of its video: red encodes the frame index.
  starts = []
  for clip in train:
    index = frame_index(clip["video"])
    np.testing.assert_array_equal(index, index[0] + np.arange(CLIP))
    starts.append(int(index[0]))
  assert sorted(starts) == [0, 0, CLIP, CLIP]
  assert "2 skipped" in prepare_data.summary(builder)


@pytest.mark.parametrize("annotations", ["annotations/train.txt", "kinetics-600_train.csv"])
def test_kinetics600_reader(tmp_path, annotations):
  """cvdfoundation's layout (annotations/train.txt) or the crawler's CSV name; a file is
  named by its YouTube id and times, so two clips of one video are two items."""
  m = tmp_path / "kinetics"
  rows = [("abseiling", "aaaaaaaaaaa", 0), ("zumba", "bbbbbbbbbbb", 0),
          ("zumba", "ccccccccccc", 0), ("abseiling", "ddddddddddd", 0),
          ("zumba", "missingfile", 0), ("abseiling", "aaaaaaaaaaa", 0),
          ("zumba", "aaaaaaaaaaa", 30)]
  (m / annotations).parent.mkdir(parents=True, exist_ok=True)
  with (m / annotations).open("w") as f:
    f.write("label,youtube_id,time_start,time_end,split\n")
    for label, vid, start in rows:
      f.write(f"{label},{vid},{start},{start + 10},train\n")
  write_video(m / "train" / "abseiling" / "aaaaaaaaaaa_000000_000010.mp4", encoded_frames(20))
  write_video(m / "train" / "zumba" / "aaaaaaaaaaa_000030_000040.mp4", encoded_frames(8))
  write_video(m / "train" / "zumba" / "bbbbbbbbbbb_000000_000010.mp4", encoded_frames(16))
  corrupt(m / "train" / "zumba" / "ccccccccccc_000000_000010.mp4")
  write_video(m / "train" / "abseiling" / "ddddddddddd_000000_000010.mp4", encoded_frames(4))
  builder = _prepare("kinetics600", m, tmp_path / "tfds")
  assert builder.classes == ["abseiling", "zumba"]
  assert _reasons(builder) == ["no file", "too short", "unreadable"]
  clips = _clips(tmp_path / "tfds", "kinetics600", "train")
  labels = sorted((c["path"].split("/")[-1], int(c["label"])) for c in clips)
  assert labels == [("aaaaaaaaaaa_000000_000010.mp4", 0), ("aaaaaaaaaaa_000000_000010.mp4", 0),
                    ("aaaaaaaaaaa_000030_000040.mp4", 1), ("bbbbbbbbbbb_000000_000010.mp4", 1),
                    ("bbbbbbbbbbb_000000_000010.mp4", 1)]


def test_ucf101_reader_and_its_split_lists(tmp_path):
  m = tmp_path / "ucf"
  lists = m / "ucfTrainTestlist"
  lists.mkdir(parents=True)
  (lists / "classInd.txt").write_text("1 ApplyEyeMakeup\n2 Biking\n")
  videos = {"ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi": 20,
            "Biking/v_Biking_g01_c01.avi": 16, "Biking/v_Biking_g02_c01.avi": 20,
            "Biking/v_Biking_g03_c01.avi": 3}
  for relative, n in videos.items():
    write_video(m / "UCF-101" / relative, encoded_frames(n))
  corrupt(m / "UCF-101" / "ApplyEyeMakeup" / "v_ApplyEyeMakeup_g09_c01.avi")
  (lists / "trainlist01.txt").write_text(
      "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi 1\nBiking/v_Biking_g01_c01.avi 2\n"
      "Biking/v_Biking_g03_c01.avi 2\nApplyEyeMakeup/v_ApplyEyeMakeup_g09_c01.avi 1\n")
  (lists / "testlist01.txt").write_text("Biking/v_Biking_g02_c01.avi\n")
  builder = _prepare("ucf101", m, tmp_path / "tfds")
  assert _reasons(builder) == ["too short", "unreadable"]
  train = _clips(tmp_path / "tfds", "ucf101", "train")
  test = _clips(tmp_path / "tfds", "ucf101", "test")
  assert sorted(int(c["label"]) for c in train) == [0, 0, 1, 1]
  assert [int(c["label"]) for c in test] == [1, 1]
  assert all(c["video"].shape == (CLIP, 16, 22, 3) for c in train + test)


def test_video_folder_reader_with_classes_from_folders(tmp_path):
  m = tmp_path / "folder"
  for i, suffix in enumerate(CODECS):
    write_video(m / ("cats" if i % 2 else "dogs") / "deeper" / f"v{i}{suffix}",
                encoded_frames(16))
  corrupt(m / "dogs" / "broken.webm")
  write_video(m / "loose.mp4", encoded_frames(16))  # in no class folder
  write_video(tmp_path / "whole.avi", encoded_frames(20))
  whole = (tmp_path / "whole.avi").read_bytes()
  (m / "cats" / "truncated.avi").write_bytes(whole[:len(whole) * 4 // 5])
  builder = _prepare("video_folder", m, tmp_path / "tfds", class_from_folder=True)
  assert builder.classes == ["cats", "dogs"] and builder.read == 5
  assert _reasons(builder) == ["unreadable", "unreadable", "unreadable"]
  assert any("loose.mp4" in p and "not in a class sub-folder" in r for p, r in builder.skipped)
  assert any("truncated.avi is truncated: " in r for _, r in builder.skipped)
  clips = _clips(tmp_path / "tfds", "video_folder", "train")
  assert len(clips) == 10
  for clip in clips:
    assert int(clip["label"]) == (0 if "/cats/" in clip["path"] else 1)
    index = frame_index(clip["video"])
    assert np.all(np.diff(index) == 1), (clip["path"], index)  # every codec, in order


def _folder_config(data_dir, **data):
  """The demo's level 1 (16 px) on the prepared folder: 4 frames at stride 2."""
  c = config_lib.load_config(CONFIG_DIR / "demo_level1.py")
  c.data.update(name="video_folder", dir=str(data_dir), num_classes=0, frames=4, subsample=2)
  c.data.update(data)
  return c


@pytest.fixture(scope="module")
def encoded_folder(tmp_path_factory):
  tmp = tmp_path_factory.mktemp("encoded")
  for i in range(4):
    write_video(tmp / "videos" / f"v{i}.mp4", encoded_frames(20))
  prepare_data.prepare("video_folder", tmp / "videos", tmp / "tfds", size=16, clip_frames=16)
  return tmp / "tfds"


def test_crops_and_strides_on_prepared_clips(encoded_folder):
  """Red encodes the frame index, green the column, blue the row: clips are consecutive
  frames at the configured stride, crops square and inside the frame."""
  config = _folder_config(encoded_folder)
  config_lib.validate(config)
  source = pipeline.get_source(config)
  spec = pipeline.ClipSpec(frames=4, stride=2, resolution=16)
  rng = np.random.default_rng(0)
  lefts = set()
  for i in range(20):
    clip = pipeline.take_clip(source[i % len(source)], rng, spec)["video"]
    assert clip.shape == (4, 16, 16, 3)
    np.testing.assert_array_equal(np.diff(frame_index(clip)), [2, 2, 2])
    # Stored frames are 16x22, resized from 48x64 whose green ramp is 255 x / 63: stored
    # column j holds the ramp at x = (j + 1/2) 64/22 - 1/2. The crop's columns are 16
    # consecutive stored ones starting at 0..6.
    x = clip[0, 8, :, 1].astype(float) * 63 / 255
    column = (x + 0.5) * 22 / 64 - 0.5
    left = int(np.round(column[0]))
    assert 0 <= left <= 6 and np.all(np.abs(column - (left + np.arange(16))) < 0.5), column
    lefts.add(left)
  assert len(lefts) > 2  # the crops move


def test_two_processes_read_disjoint_complete_shards(encoded_folder):
  config = _folder_config(encoded_folder)
  config.train.update(batch_size=4, d_steps=1)
  source = pipeline.get_source(config)
  whole = pipeline.level_dataset(config, source)
  parts = [pipeline.level_dataset(config, source, process_index=p, process_count=2)
           for p in (0, 1)]
  for i in range(3):
    joined = np.concatenate([parts[0][i]["video"], parts[1][i]["video"]], axis=1)
    np.testing.assert_array_equal(joined, whole[i]["video"])
    assert not np.array_equal(parts[0][i]["video"], parts[1][i]["video"])


def test_preparing_again_is_refused_and_bad_flags_are_errors(encoded_folder, tmp_path):
  with pytest.raises(prepare_data.AlreadyPreparedError, match="already prepared as 16px_native_16f"):
    prepare_data.prepare("video_folder", encoded_folder.parent / "videos", encoded_folder,
                         size=16, clip_frames=16)
  with pytest.raises(ValueError, match="--clip_frames=0"):
    prepare_data.prepare("video_folder", encoded_folder.parent / "videos", tmp_path,
                         clip_frames=0)


def test_a_chain_checks_every_levels_data_before_training(encoded_folder, tmp_path):
  from hvg_jax.train import trainer  # pylint: disable=g-import-not-at-top
  chain = config_lib.load_config(CONFIG_DIR / "demo.py", "runlocal")
  for level, data_dir in (("level1", encoded_folder), ("level2", tmp_path / "elsewhere")):
    chain.levels[level].data.update(name="video_folder", dir=str(data_dir), num_classes=0)
  # Level 1's data is there, level 2's is not: nothing trains.
  with pytest.raises(config_lib.ConfigError, match="video_folder is not prepared in"):
    trainer.train_chain(chain, tmp_path / "run")
  assert not (tmp_path / "run").exists()


def test_data_that_is_not_prepared_is_a_clear_error(tmp_path):
  for name in ("bdd_level1", "kinetics_level1", "ucf101_level1"):
    config = config_lib.load_config(CONFIG_DIR / f"{name}.py")
    with pytest.raises(config_lib.ConfigError, match="python -m hvg_jax.prepare_data "
                       f"--dataset={config.data.name}"):
      pipeline.get_source(config)
    config.data.dir = str(tmp_path)
    with pytest.raises(config_lib.ConfigError, match=f"is not prepared in {tmp_path}"):
      pipeline.get_source(config)


def test_clips_shorter_than_the_level_needs_are_a_clear_error(encoded_folder):
  config = _folder_config(encoded_folder, frames=9)  # 9 frames at stride 2: 17 stored
  with pytest.raises(config_lib.ConfigError, match="--clip_frames=17"):
    pipeline.get_source(config)


def test_prepare_data_command_reports_and_refuses_empty_directories(tmp_path):
  m = tmp_path / "videos"
  write_video(m / "a.mp4", encoded_frames(20))
  corrupt(m / "b.mp4")
  out = subprocess.run([PYTHON, "-m", "hvg_jax.prepare_data", "--dataset=video_folder",
                        f"--manual_dir={m}", f"--data_dir={tmp_path / 'tfds'}", "--size=16",
                        "--clip_frames=8"], cwd=REPO, capture_output=True, text=True,
                       env=subprocess_env(), timeout=300)
  assert out.returncode == 0, out.stderr[-3000:]
  assert "1 videos decoded, clips stored: train 2; 1 skipped" in out.stdout
  assert f"skipped {m / 'b.mp4'}" in out.stdout
  (tmp_path / "empty").mkdir()
  out = subprocess.run([PYTHON, "-m", "hvg_jax.prepare_data", "--dataset=bdd100k",
                        f"--manual_dir={tmp_path / 'empty'}", f"--data_dir={tmp_path}"],
                       cwd=REPO, capture_output=True, text=True, env=subprocess_env(),
                       timeout=300)
  assert out.returncode != 0 and "is missing or empty" in out.stderr


def test_prepare_data_where_no_video_decodes_is_one_line_with_the_skipped_list(tmp_path):
  m = tmp_path / "videos"
  corrupt(m / "a.mp4")
  corrupt(m / "b.avi")
  data_dir = tmp_path / "tfds"
  data_dir.mkdir()
  out = subprocess.run([PYTHON, "-m", "hvg_jax.prepare_data", "--dataset=video_folder",
                        f"--manual_dir={m}", f"--data_dir={data_dir}", "--size=16",
                        "--clip_frames=8"], cwd=REPO, capture_output=True, text=True,
                       env=subprocess_env(), timeout=300)
  assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr[-3000:]
  last = out.stderr.strip().splitlines()[-1]
  listing = data_dir / "skipped_video_folder_16px_native_8f.txt"
  assert last.startswith(f"error: no clips could be stored from --manual_dir={m}"), last
  assert f"0 videos decoded, 2 skipped, listed in {listing}" in last
  assert sorted(line.split("\t")[0] for line in listing.read_text().splitlines()) == [
      str(m / "a.mp4"), str(m / "b.avi")]


def _command(args, timeout=600):
  return subprocess.run(args, cwd=REPO, capture_output=True, text=True, env=subprocess_env(),
                        timeout=timeout)


def moving_stripes(n=40, height=48, width=64, speed=1):
  """Vertical stripes moving sideways by ``speed`` pixels a frame over a vertical ramp."""
  t, y, x = np.arange(n)[:, None, None], np.arange(height)[:, None], np.arange(width)
  frames = np.zeros((n, height, width, 3), np.uint8)
  frames[..., 0] = np.round(127.5 + 100 * np.sin((x - speed * t) / 4.0))
  frames[..., 1] = np.round(np.linspace(0, 255, height))[:, None]
  frames[..., 2] = 60
  return frames


@pytest.mark.slow
def test_your_own_videos_in_two_commands(tmp_path):
  """The README's "Train on your own videos": the chain command first says how to prepare
  the folder (for the whole chain, naming the level) and leaves no workdir; that command
  prepares it once; the chain command then trains both levels, samples and evaluates."""
  videos, data, workdir = tmp_path / "videos", tmp_path / "data", tmp_path / "run"
  for i in range(4):
    write_video(videos / f"clip{i}.mp4", moving_stripes(speed=i + 1))
  train = [PYTHON, "-m", "hvg_jax.main", "--config=configs/video_folder.py:runlocal",
           f"--config.data.dir={data}", f"--workdir={workdir}"]
  first = _command(train)
  last = first.stderr.strip().splitlines()[-1]
  assert first.returncode == 1 and "Traceback" not in first.stderr, first.stderr[-3000:]
  assert last.startswith(f"error: level 1 (video_folder_level1): video_folder is not "
                         f"prepared in {data}; prepare it with: python -m "
                         "hvg_jax.prepare_data --config=configs/video_folder.py:runlocal"), last
  assert not workdir.exists()
  prepare = shlex.split(last.split("prepare it with: ")[1].replace("<your videos>",
                                                                   str(videos)))
  assert prepare[0] == "python"
  prepared = _command([PYTHON] + prepare[1:])
  assert prepared.returncode == 0, prepared.stderr[-3000:]
  # Both levels' 8 px views and the 16-frame clips evaluation reads: one version.
  assert ("video_folder/8px_native_16f in" in prepared.stdout
          and "4 videos decoded, clips stored: train 8; 0 skipped" in prepared.stdout)
  again = _command([PYTHON] + prepare[1:])
  assert again.returncode == 0 and "Nothing to do" in again.stdout, again.stderr[-3000:]

  trained = _command(train)
  assert trained.returncode == 0, trained.stderr[-3000:]
  assert "Training level 2 of 2 (video_folder_level2)" in trained.stderr
  assert (workdir / "samples" / "index.html").exists()
  metrics = json.loads((workdir / "samples" / "metrics.json").read_text())["metrics"]
  assert {"fvd", "fid", "is", "grounding/level2_ratio"} <= set(metrics)


def test_a_chains_data_setting_reaches_every_level_and_a_levels_own_wins(tmp_path):
  chain = config_lib.load_config(CONFIG_DIR / "video_folder.py")
  chain.data.dir = str(tmp_path)
  chain.levels.level2.data.dir = str(tmp_path / "level2")  # as --config.levels.level2...
  chain.data.num_classes = 3
  level1, level2 = config_lib.chain_levels(chain)
  assert (level1.data.name, level1.data.dir, level1.data.num_classes) == (
      "video_folder", str(tmp_path), 3)
  assert (level2.data.name, level2.data.dir, level2.data.num_classes) == (
      "video_folder", str(tmp_path / "level2"), 3)
  assert chain.levels.level1.data.dir == ""  # the chain's own level configs are kept


def test_a_chains_data_errors_name_the_level_and_a_fix_that_works(encoded_folder):
  from hvg_jax.train import trainer  # pylint: disable=g-import-not-at-top
  chain = config_lib.load_config(CONFIG_DIR / "demo.py", "runlocal")  # 4 classes
  chain.data.update(name="video_folder", dir=str(encoded_folder))
  with pytest.raises(config_lib.ConfigError, match=(
      r"^level 1 \(demo_level1\): config.data.num_classes is 4, but video_folder as prepared "
      r"\(16px_native_16f\) has 0 classes: set --config.data.num_classes=0 \(unconditional\)")):
    trainer.check_chain_data(chain)
  chain.data.num_classes = 0
  assert [c.data.storage for c in trainer.check_chain_data(chain)] == ["", ""]


def test_the_one_prepared_version_that_fits_is_read_else_the_config_names_one(
    encoded_folder, tmp_path):
  for clip_frames in (8, 16):
    prepare_data.prepare("video_folder", encoded_folder.parent / "videos", tmp_path, size=16,
                         clip_frames=clip_frames)
  config = _folder_config(tmp_path, frames=5)  # 9 stored frames: only in the 16-frame clips
  assert pipeline.storage(config, 5) == "16px_native_16f"
  assert len(pipeline.get_source(config)) == 4
  config = _folder_config(tmp_path)  # 7 stored frames: in both
  with pytest.raises(config_lib.ConfigError, match=(
      r"^level 1 \(demo_level1\): video_folder is prepared in .* several ways that fit "
      r"\(16px_native_16f, 16px_native_8f\): choose one with "
      r"--config.data.storage=16px_native_16f$")):
    pipeline.get_source(config)
  config.data.storage = "16px_native_16f"
  assert len(pipeline.get_source(config)) == 4


def test_evaluation_takes_the_clips_the_data_has(encoded_folder):
  config = _folder_config(encoded_folder)  # stride 2: the 16-frame clips give 8 frames
  fitted = evaluation.fit_to_data(evaluation.settings(None, metrics="psd"), config)
  assert fitted.psd_frames == (1, 8)  # the defaults (1, 10, 24, 48) that fit, and the last
  with pytest.raises(config_lib.ConfigError, match=(
      r"^level 1 \(demo_level1\): PSD of frames 1,10, but its prepared clips give 8 frames: "
      r"evaluate with --psd_frames=1,8, or prepare longer clips with: python -m "
      r"hvg_jax.prepare_data --dataset=video_folder .* --size=16 --clip_frames=19$")):
    evaluation.fit_to_data(evaluation.settings(None, metrics="psd", psd_frames=(1, 10)),
                           config)
  # 8 frames are too few for I3D: the fix is longer clips only.
  with pytest.raises(config_lib.ConfigError, match=(
      r"clips of 9 frames, but its prepared clips give 8 frames: prepare longer clips with: "
      r".* --clip_frames=17$")):
    evaluation.fit_to_data(evaluation.settings(None, metrics="fvd", clip_frames=9), config)


def test_a_failed_start_leaves_no_workdir(tmp_path):
  from hvg_jax.train import trainer  # pylint: disable=g-import-not-at-top
  level2 = config_lib.load_config(CONFIG_DIR / "demo_level2.py", "runlocal")
  with pytest.raises(config_lib.ConfigError, match="config.lower_levels"):
    trainer.train(level2, tmp_path / "level2")
  level1 = config_lib.load_config(CONFIG_DIR / "demo_level1.py", "runlocal")
  level1.eval.update(every_steps=1, i3d_weights=str(tmp_path / "missing.npz"))
  with pytest.raises(FileNotFoundError):  # after the workdir was made
    trainer.train(level1, tmp_path / "level1")
  assert sorted(tmp_path.iterdir()) == []


def _prepare_command(manual_dir, data_dir, prefix=""):
  command = [PYTHON, "-m", "hvg_jax.prepare_data", "--dataset=video_folder",
             f"--manual_dir={manual_dir}", f"--data_dir={data_dir}", "--size=16",
             "--clip_frames=8"]
  if prefix:  # a shell limit (ulimit) for the command alone
    command = ["bash", "-c", f'{prefix}; exec "$@"', "bash", *command]
  return _command(command, timeout=300)


def test_prepare_data_runs_one_at_a_time_and_cleans_what_a_killed_run_left(tmp_path):
  m, data_dir = tmp_path / "videos", tmp_path / "tfds"
  write_video(m / "a.mp4", encoded_frames(20))
  config_dir = data_dir / "video_folder" / "16px_native_8f"
  # A run killed mid-way (SIGKILL) leaves TFDS's incomplete folder; one that is running
  # holds the lock.
  stale = config_dir / "incomplete.AB12CD_1.0.0"
  (stale / "video_folder-train.array_record-00000-of-00001").parent.mkdir(parents=True)
  (stale / "video_folder-train.array_record-00000-of-00001").write_bytes(b"half")
  holder = subprocess.Popen(["sleep", "600"])
  try:
    (config_dir / "prepare.lock").write_text(json.dumps(
        {"host": socket.gethostname(), "pid": holder.pid, "started": "then",
         "command": "python -m hvg_jax.prepare_data ..."}))
    busy = _prepare_command(m, data_dir)
    assert busy.returncode == 1 and "Traceback" not in busy.stderr, busy.stderr[-3000:]
    last = busy.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: {config_dir} (being prepared) is in use by another run "
                           f"(host {socket.gethostname()}, pid {holder.pid}"), last
    assert "use another --data_dir" in last
  finally:
    holder.kill()
    holder.wait()
  # The holder is gone: its lock is taken over and its incomplete folder removed.
  out = _prepare_command(m, data_dir)
  assert out.returncode == 0, out.stderr[-3000:]
  assert "a run that is gone" in out.stderr and f"Removing {stale}" in out.stderr
  assert not stale.exists() and not (config_dir / "prepare.lock").exists()
  assert sorted(p.name for p in config_dir.iterdir()) == ["1.0.0"]


def test_prepare_data_on_a_full_disk_is_one_line_and_keeps_nothing_partial(tmp_path):
  m, data_dir = tmp_path / "videos", tmp_path / "tfds"
  write_video(m / "a.mp4", encoded_frames(20))
  out = _prepare_command(m, data_dir, prefix="ulimit -f 1")  # files up to 1 KiB
  assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr[-3000:]
  (error,) = [line for line in out.stderr.splitlines() if line.startswith("error:")]
  # (after it only TFDS's progress bars closing)
  assert error.startswith(f"error: the clips could not be written to {data_dir}"), error
  assert "File too large" in error
  config_dir = data_dir / "video_folder" / "16px_native_8f"
  assert [p.name for p in config_dir.iterdir()] == []  # nothing that looks prepared
  assert _prepare_command(m, data_dir).returncode == 0  # space again: it prepares
