"""The package's import graph: imports run one way (down the layers below) and never in a
cycle, function-level imports included. A new module is placed in a layer here."""

import ast
import fnmatch
import pathlib
import sys

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "hvg_jax"

# Lowest first: a module may import its own layer's modules and the layers below.
LAYERS = [
    # what everything uses: errors, paths and the on-disk layout, devices, video arrays
    ["hvg_jax", "hvg_jax.errors", "hvg_jax.resolution", "hvg_jax.video_ops",
     "hvg_jax.video_io", "hvg_jax.runtime", "hvg_jax.layout", "hvg_jax.accelerator",
     "hvg_jax.distributed", "hvg_jax.compilation_cache", "hvg_jax.files", "hvg_jax.locks"],
    ["hvg_jax.config_lib", "hvg_jax.config_lib.*"],  # configs, shapes, their checks
    ["hvg_jax.layers", "hvg_jax.layers.*", "hvg_jax.data", "hvg_jax.data.*"],
    ["hvg_jax.models", "hvg_jax.models.*"],
    ["hvg_jax.checkpoints", "hvg_jax.level"],  # a level on disk and in memory
    # sampling chains; one training step
    ["hvg_jax.chain", "hvg_jax.chain.*", "hvg_jax.train.state", "hvg_jax.train.losses",
     "hvg_jax.train.augment",
     "hvg_jax.train.step"],
    ["hvg_jax.eval", "hvg_jax.eval.*"],
    ["hvg_jax.train", "hvg_jax.train.*"],  # a level's training
    ["hvg_jax.programs", "hvg_jax.tpu_slices", "hvg_jax.sizing"],  # programs on shapes
    # the commands and what they share
    ["hvg_jax.cli", "hvg_jax.main", "hvg_jax.sample", "hvg_jax.evaluate", "hvg_jax.fvd",
     "hvg_jax.export", "hvg_jax.describe", "hvg_jax.benchmark", "hvg_jax.prepare_data",
     "hvg_jax.convert_i3d"],
]


def _modules() -> dict[str, pathlib.Path]:
  modules = {}
  for path in PACKAGE.rglob("*.py"):
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    if parts[-1] == "__init__":
      parts = parts[:-1]
    modules[".".join(parts)] = path
  return modules


def _graph(modules) -> dict[str, set[str]]:
  """module -> the package's modules it imports (anywhere in it, functions included)."""
  def resolve(name):
    while name not in modules:
      name = name.rpartition(".")[0]
    return name

  graph = {}
  for name, path in modules.items():
    imported = set()
    for node in ast.walk(ast.parse(path.read_text())):
      if isinstance(node, ast.Import):
        imported |= {resolve(a.name) for a in node.names if a.name.startswith("hvg_jax")}
      elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("hvg_jax"):
        for a in node.names:  # `from pkg import module` imports the module
          full = f"{node.module}.{a.name}"
          imported.add(full if full in modules else resolve(node.module))
    graph[name] = imported - {name}
  return graph


def _layer(name: str) -> int:
  matches = [i for i, layer in enumerate(LAYERS)
             if any(fnmatch.fnmatchcase(name, pattern) for pattern in layer)]
  assert matches, f"{name} is in no layer of tests/test_imports.py: place it in one"
  return max(matches)  # hvg_jax.train.step matches both its own layer and hvg_jax.train.*


def _layer_of(name: str) -> int:
  exact = [i for i, layer in enumerate(LAYERS) if name in layer]
  return exact[0] if exact else _layer(name)


def test_every_module_is_in_a_layer_and_imports_only_downwards():
  modules = _modules()
  upward = []
  for name, imported in sorted(_graph(modules).items()):
    for other in sorted(imported):
      if _layer_of(other) > _layer_of(name):
        upward.append(f"{name} (layer {_layer_of(name)}) imports {other} "
                      f"(layer {_layer_of(other)})")
  assert not upward, "upward imports:\n" + "\n".join(upward)


def test_no_import_cycles():
  graph = _graph(_modules())
  index, low, stack, on_stack, cycles = {}, {}, [], set(), []

  def visit(v):  # Tarjan's strongly connected components
    index[v] = low[v] = len(index)
    stack.append(v)
    on_stack.add(v)
    for w in graph[v]:
      if w not in index:
        visit(w)
        low[v] = min(low[v], low[w])
      elif w in on_stack:
        low[v] = min(low[v], index[w])
    if low[v] == index[v]:
      component = []
      while True:
        w = stack.pop()
        on_stack.discard(w)
        component.append(w)
        if w == v:
          break
      if len(component) > 1:
        cycles.append(sorted(component))

  for v in sorted(graph):
    if v not in index:
      visit(v)
  assert not cycles, f"import cycles: {cycles}"


def test_the_checks_find_an_upward_import(tmp_path, monkeypatch):
  """The checks above can fail: a data module importing the trainer is caught."""
  fake = tmp_path / "hvg_jax"
  for path in PACKAGE.rglob("*.py"):
    target = fake / path.relative_to(PACKAGE)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(path.read_text())
  (fake / "data" / "bad.py").write_text("from hvg_jax.train import trainer\n")
  (fake / "train" / "cyc.py").write_text("from hvg_jax.train import trainer\n")
  with (fake / "train" / "trainer.py").open("a") as f:
    f.write("\nfrom hvg_jax.train import cyc\n")
  monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)
  modules = _modules()
  graph = _graph(modules)
  assert "hvg_jax.train.trainer" in graph["hvg_jax.data.bad"]
  assert _layer_of("hvg_jax.train.trainer") > _layer_of("hvg_jax.data.bad")
  try:
    test_no_import_cycles()
  except AssertionError as e:
    assert "hvg_jax.train.cyc" in str(e)
  else:
    raise AssertionError("the cycle trainer <-> cyc was not found")


def test_the_training_package_stays_readable():
  """train/: no module over 250 lines, no function taking more than 6 parameters (a value
  every call re-threads belongs in the level's run, hvg_jax.train.run.LevelRun)."""
  long, wide = [], []
  for path in sorted((PACKAGE / "train").glob("*.py")):
    text = path.read_text()
    if len(text.splitlines()) > 250:
      long.append(f"{path.name}: {len(text.splitlines())} lines")
    for node in ast.walk(ast.parse(text)):
      if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        a = node.args
        names = [x.arg for x in a.posonlyargs + a.args + a.kwonlyargs]
        names += [x.arg for x in (a.vararg, a.kwarg) if x is not None]
        if names and names[0] in ("self", "cls"):
          names = names[1:]
        if len(names) > 6:
          wide.append(f"{path.name}:{node.lineno} {getattr(node, 'name', 'lambda')} "
                      f"takes {len(names)}")
  assert not long and not wide, long + wide
