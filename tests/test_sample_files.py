"""A chain's sample files appear complete or not at all; a failed write is one line."""

import subprocess
import textwrap

from conftest import PYTHON, REPO, subprocess_env

# write_samples as the sample command runs it (inside cli.user_errors), on made-up chunks
# of a two-level chain: 2 * N chunks of 4 videos.
SCRIPT = textwrap.dedent("""
    import sys, types
    import numpy as np
    from hvg_jax import cli
    from hvg_jax.chain.sample_files import write_samples
    levels = [types.SimpleNamespace(config=types.SimpleNamespace(level=k + 1, name=f"l{k}"),
                                    source="made up") for k in range(2)]
    n = int(sys.argv[2])
    rng = np.random.default_rng(0)
    def chunks():
      for _ in range(n):
        yield 0, rng.uniform(-1, 1, (4, 8, 8, 8, 3))
        yield 1, rng.uniform(-1, 1, (4, 16, 16, 16, 3))
    with cli.user_errors():
      print(write_samples(sys.argv[1], levels, [8 * n, 16 * n], chunks()))
""")


def _write(output, chunks, file_blocks=None):
  limit = f"ulimit -f {file_blocks}; " if file_blocks else ""
  return subprocess.run(["bash", "-c", f'{limit}exec "$@"', "bash", PYTHON, "-c", SCRIPT,
                         str(output), str(chunks)], cwd=REPO, env=subprocess_env(),
                        capture_output=True, text=True, timeout=300)


def test_samples_are_written_whole(tmp_path):
  out = _write(tmp_path / "ok", 2)
  assert out.returncode == 0, out.stderr[-2000:]
  names = sorted(p.name for p in (tmp_path / "ok").iterdir())
  assert names == sorted(["index.html", "levels.gif", "levels.mp4"] + [
      f"level{k}{s}" for k in (1, 2) for s in (".gif", ".mp4", "_0.npy", "_1.npy",
                                                "_2.npy", "_3.npy")])


def test_a_full_disk_leaves_no_partial_file_and_one_line(tmp_path):
  """Files over 100 KiB fail (as on a full disk): nothing is left that looks complete,
  and the command says so in one line, with no traceback at exit."""
  out = _write(tmp_path / "full", 40, file_blocks=100)
  assert out.returncode == 1, out.stderr[-2000:]
  lines = [l for l in out.stderr.splitlines() if l.strip()]
  assert lines == [f"error: the samples could not be written in {tmp_path / 'full'}: File "
                   "too large; no partial file was left: free space or choose another "
                   "--output, then run the command again"], out.stderr[-3000:]
  assert not any((tmp_path / "full").iterdir())
