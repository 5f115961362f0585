"""The import layers of docs/DESIGN.md, checked on every shipped .py file (everything outside tests/).

Layers, lowest first; a module may import modules of a LOWER layer, or of its own package (``datasets.yt360`` ->
``datasets.base``, ``tools.gpucheck.media`` -> ``tools.bench_data``), nothing else:

    utils < datasets < models < criterions < engine < evaluation < scripts (main-video-ssl.py, eval-*.py), tools

* criterions sit above models: the criteria own translation networks built from ``models.translation`` (the
  modules g_v2a / g_a2v live with the other networks), so criterions may import models, never the reverse.
* Scripts and tools are the top: nothing imports a script, scripts do not import each other or tools, and tools
  import anything below them (and each other) but no script.
* Imports by name (``importlib.import_module("x")``, ``__import__("x")``) count as imports; one whose name is
  computed at run time cannot be checked and is an error (it hides a dependency from this graph).
* Function-level imports count like module-level ones for the layers. The graph of the imports that run when a
  module is imported (one node per .py file) has no cycle; a function-level import is the way to break one
  (today: datasets.audio_stats -> datasets.yt360 inside ``_train_audio_files``).
"""

from __future__ import annotations

import ast
import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAYERS = {"utils": 0, "datasets": 1, "models": 2, "criterions": 3, "engine": 4, "evaluation": 5, "tools": 6}
SCRIPT_LAYER = 6
SKIP_DIRS = {"tests", "__pycache__", "data", "results", "checkpoints"}


def shipped_modules(root: str) -> dict[str, str]:
    """{module name: path} of every .py file under ``root`` outside tests/ (scripts by their file name)."""
    modules = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in SKIP_DIRS)
        for name in sorted(files):
            if name.endswith(".py"):
                parts = os.path.relpath(os.path.join(folder, name), root)[:-3].split(os.sep)
                if parts[-1] == "__init__":
                    parts = parts[:-1]
                modules[".".join(parts)] = os.path.join(folder, name)
    return modules


def layer(module: str) -> int | None:
    top = module.split(".")[0]
    if "." not in module and top not in LAYERS:
        return SCRIPT_LAYER  # a top-level file: main-video-ssl.py, eval-*.py
    return LAYERS.get(top)


def _resolve(name: str, modules: dict[str, str]) -> str | None:
    """The project module ``import name`` runs last (its longest prefix that is a project module), or None."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in modules:
            return ".".join(parts[:end])
    return None


def _package(module: str, path: str) -> str:
    return module if path.endswith("__init__.py") else module.rpartition(".")[0]


def _nodes(tree: ast.AST, deferred: bool = False):
    """(node, deferred) for every node below ``tree``; deferred: inside a function (runs when it is called)."""
    for child in ast.iter_child_nodes(tree):
        yield child, deferred
        yield from _nodes(child, deferred or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))


def imports(module: str, path: str, modules: dict[str, str]) -> tuple[dict[str, bool], list[str]]:
    """({project module that ``module`` imports: whether only inside functions}, problems such as an import by a
    computed name)."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    names, problems = [], []
    for node, deferred in _nodes(tree):
        if isinstance(node, ast.Import):
            names += [(alias.name, deferred) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package of this module, up level - 1
                package = _package(module, path).split(".")
                base = ".".join(package[:len(package) - node.level + 1] + ([base] if base else []))
            # `from pkg import sub` imports the submodule pkg.sub when there is one, else a name of pkg
            for alias in node.names:
                full = f"{base}.{alias.name}" if base else alias.name
                names.append((full if full in modules or not base else base, deferred))
        elif isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if called in ("import_module", "__import__"):
                arg = node.args[0] if node.args else None
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    names.append((arg.value, deferred))
                else:
                    problems.append(f"{module}:{node.lineno}: imports a module by a computed name")
    targets: dict[str, bool] = {}
    for name, deferred in names:
        target = _resolve(name, modules)
        if target and target != module:
            targets[target] = targets.get(target, True) and deferred
    return targets, problems


def layer_problems(root: str) -> list[str]:
    """Every import against the layers above, every module outside them, and every import cycle (through imports
    that run when a module is imported), as lines."""
    modules = shipped_modules(root)
    problems, graph = [], {}
    for module, path in modules.items():
        if layer(module) is None:
            problems.append(f"{module}: {os.path.relpath(path, root)} is in no layer")
            continue
        targets, found = imports(module, path, modules)
        problems += found
        graph[module] = {target for target, deferred in targets.items() if not deferred}
        for target in sorted(targets):
            same_package = module.split(".")[0] in LAYERS and module.split(".")[0] == target.split(".")[0]
            if not same_package and not (layer(target) is not None and layer(target) < layer(module)):
                problems.append(f"{module} imports {target}: not below it")
    problems += [f"import cycle: {' -> '.join(cycle)}" for cycle in cycles(graph)]
    return problems


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through each strongly connected component of more than one node (Tarjan), e.g. [a, b, a]."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(_cycle_in(sorted(component), graph))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _cycle_in(component: list[str], graph: dict[str, set[str]]) -> list[str]:
    """A path from the component's first node back to itself, inside the component."""
    members, start = set(component), component[0]
    paths, seen = [[start]], {start}
    while paths:
        path = paths.pop(0)
        for nxt in sorted(graph[path[-1]] & members):
            if nxt == start:
                return path + [start]
            if nxt not in seen:
                seen.add(nxt)
                paths.append(path + [nxt])
    return component


def test_shipped_imports_follow_the_layers():
    assert len(shipped_modules(REPO)) > 60  # the walk found the project
    problems = layer_problems(REPO)
    assert not problems, "\n".join(problems)


def _tree(root, files: dict[str, str]) -> str:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return str(root)


@pytest.mark.parametrize("files,expected", [
    ({"utils/a.py": "import datasets.b\n", "datasets/b.py": ""}, ["utils.a imports datasets.b: not below it"]),
    ({"models/a.py": "def f():\n    from criterions import loss\n", "criterions/loss.py": ""},
     ["models.a imports criterions.loss: not below it"]),
    ({"engine/a.py": "import importlib\nimportlib.import_module('evaluation.b')\n", "evaluation/b.py": ""},
     ["engine.a imports evaluation.b: not below it"]),
    ({"utils/a.py": "import importlib\nNAMES = ['engine']\nfor n in NAMES:\n    importlib.import_module(n)\n"},
     ["utils.a:4: imports a module by a computed name"]),
    ({"tools/a.py": "__import__('main-video-ssl')\n", "main-video-ssl.py": ""},
     ["tools.a imports main-video-ssl: not below it"]),
    ({"eval-x.py": "from evaluation import runner\nfrom tools import t\n", "evaluation/runner.py": "",
      "tools/t.py": ""}, ["eval-x imports tools.t: not below it"]),
    ({"datasets/__init__.py": "from datasets.a import A\n", "datasets/a.py": "from datasets import B\n"},
     ["import cycle: datasets -> datasets.a -> datasets"]),
    ({"datasets/__init__.py": "from datasets.a import A\n", "datasets/a.py": "from . import b\n",
      "datasets/b.py": "from .. import datasets\nimport datasets\n"},
     ["import cycle: datasets -> datasets.a -> datasets.b -> datasets"]),
    ({"scratch/x.py": ""}, ["scratch.x: scratch/x.py is in no layer"]),
    # a function-level import breaks a cycle (it runs when the function is called), but obeys the layers
    ({"datasets/a.py": "def f():\n    from datasets import b\n", "datasets/b.py": "import datasets.a\n"}, []),
    # allowed: downward, within a package, tools among themselves, criterions on models, a script on everything
    ({"criterions/c.py": "from models.translation import T\n", "models/translation.py": "import utils.u\n",
      "utils/u.py": "import os\n", "tools/a.py": "from tools import b\nimport evaluation\n", "tools/b.py": "",
      "evaluation/__init__.py": "from engine import loop\n", "engine/loop.py": "from datasets import augment\n",
      "datasets/augment.py": "", "main-video-ssl.py": "import criterions.c, evaluation, engine.loop\n"}, []),
])
def test_the_checker_finds_upward_imports_and_cycles(tmp_path, files, expected):
    assert layer_problems(_tree(tmp_path, files)) == expected
