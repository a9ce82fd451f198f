"""Every name the repository's Python uses is defined: the benchmark and experiment scripts,
launch helpers and configs run only by hand or in long jobs (a TPU compile, a chain), where
a missing import would fail an hour in."""

import ast
import pathlib

from pyflakes import checker, messages

REPO = pathlib.Path(__file__).resolve().parents[1]
FOLDERS = ["hvg_jax", "benchmarks", "experiments", "launch", "configs", "tests"]
UNDEFINED = (messages.UndefinedName, messages.UndefinedLocal, messages.UndefinedExport)


def undefined_names(path: pathlib.Path, root: pathlib.Path = REPO) -> list[str]:
  tree = ast.parse(path.read_text(), filename=str(path))
  found = checker.Checker(tree, filename=str(path.relative_to(root))).messages
  return [str(m) for m in found if isinstance(m, UNDEFINED)]


def test_the_checker_finds_an_undefined_name(tmp_path):
  path = tmp_path / "probe.py"  # the bug it is for: a function-level import left out
  path.write_text("def f():\n  from os import path\n  return sizing.size(path)\n")
  assert undefined_names(path, tmp_path) == ["probe.py:3:10: undefined name 'sizing'"]


def test_no_undefined_names():
  files = sorted(p for folder in FOLDERS for p in (REPO / folder).rglob("*.py"))
  assert len(files) > 100
  problems = [m for p in files for m in undefined_names(p)]
  assert not problems, "\n".join(problems)
