"""Untrusted checkpoints (issue #10): every load in the source tree is ``torch.load(..., weights_only=True)``, and a
checkpoint carrying a pickled object with code is refused — with one clear line, without running the code — by
every path a user can point at a file: resuming a run, ``eval-*.py --checkpoint``, ``model.init_from``,
``tools/visualize.py localize --checkpoint`` and ``tools/convert_reference_checkpoint.py`` (whose help says so)."""

import ast
import importlib.util
import os
import pickle

import pytest
import torch

from utils.cli import run_main
from tests.scripts import load_script

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SKIP_DIRS = {".venv", ".git", "data", "checkpoints", "results", "__pycache__"}


def _python_files():
    for folder, dirs, files in os.walk(REPO):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.startswith(".")]
        for name in files:
            if name.endswith(".py"):
                yield os.path.relpath(os.path.join(folder, name), REPO)


def _calls(path):
    with open(os.path.join(REPO, path), encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield ast.unparse(node.func), {k.arg: k.value for k in node.keywords}, node.lineno


def _is_true(node) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


def test_every_load_in_the_source_tree_is_a_safe_load():
    loads, unsafe = [], []
    for path in _python_files():
        shipped = not path.startswith("tests" + os.sep)
        for func, keywords, line in _calls(path):
            where = f"{path}:{line}: {func}"
            if func in ("torch.load", "load") and ("weights_only" in keywords or func == "torch.load"):
                loads.append(where)
                if not _is_true(keywords.get("weights_only")):
                    unsafe.append(where + " without weights_only=True")
            if func in ("torch.serialization.add_safe_globals", "torch.serialization.safe_globals"):
                unsafe.append(where + " (allow-lists extra types)")
            if func in ("np.load", "numpy.load") and _is_true(keywords.get("allow_pickle")):
                unsafe.append(where + " with allow_pickle=True")
            if shipped and func in ("pickle.load", "pickle.loads", "pickle.Unpickler", "marshal.loads"):
                unsafe.append(where)
            if func == "yaml.load" and ast.unparse(keywords.get("Loader", ast.Constant(None))) != "_Loader":
                unsafe.append(where + " without the safe loader")
            if func in ("yaml.unsafe_load", "yaml.full_load"):
                unsafe.append(where)
    assert unsafe == []
    # the scan sees the loads it must see (it would pass vacuously if it saw nothing)
    assert any(w.startswith(os.path.join("utils", "checkpoint.py")) for w in loads), loads
    assert len(loads) >= 3, loads


class _Payload:
    """Unpickling it creates the directory ``marker``: code that runs on load."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.mkdir, (self.marker,)


def _booby_trapped(tmp_path, state, name="checkpoint.pth"):
    """A checkpoint that looks like an avsa one, with the payload hidden in ``state['optimizer']``."""
    marker = tmp_path / "code-ran"
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"avsa_version": "0.1.0", "epoch": 1, "epoch_step": 0, "step": 4, "config": {}, **state,
                "optimizer": {"state": {}, "param_groups": [], "extra": _Payload(marker)}}, path)
    return str(path), marker


def _module(relative):
    return load_script(relative)


def _refused(capsys, main, argv):
    with pytest.raises(SystemExit) as info:
        run_main(main, argv)
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert info.value.code == 1 and len(lines) == 1 and "Traceback" not in err, err
    assert "refusing to load" in lines[0] and "could run code" in lines[0], lines[0]
    return lines[0]


def _demo_model_state():
    from criterions import build_criterion
    from engine.schema import PRETRAIN_SCHEMA
    from models import build_model
    from utils.config import load_config

    cfg = load_config(os.path.join(REPO, "configs/demo/avsa.yaml"), schema=PRETRAIN_SCHEMA)
    model = build_model(cfg["model"], load_init=False)
    return {"model": model.state_dict(), "criterion": build_criterion(cfg["loss"], model.out_dim).state_dict()}


def test_resume_refuses_a_booby_trapped_checkpoint(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("tiny_run", os.path.join(REPO, "tests", "engine", "tiny_run.py"))
    tiny_run = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tiny_run)
    task = tiny_run.ToyTask()
    path, marker = _booby_trapped(tmp_path / "run", {name: m.state_dict() for name, m in task.state_modules().items()})
    line = _refused(capsys, tiny_run.main, [os.path.dirname(path)])
    assert path in line and not marker.exists()


def test_eval_checkpoint_init_from_and_visualize_refuse_it(tmp_path, capsys):
    path, marker = _booby_trapped(tmp_path, _demo_model_state())
    avsa = os.path.join(REPO, "configs/demo/avsa.yaml")
    _refused(capsys, _module("eval-avsa.py").main,
             [os.path.join(REPO, "configs/demo/benchmark/avsa.yaml"), avsa, "--checkpoint", path,
              "--output", str(tmp_path / "eval")])
    from engine.schema import PRETRAIN_SCHEMA
    from models import build_model
    from utils.config import load_config

    cfg = load_config(avsa, [f"model.init_from={path}"], schema=PRETRAIN_SCHEMA)
    _refused(capsys, lambda argv: build_model(cfg["model"]), [])  # curriculum phase 2 loading phase 1
    _refused(capsys, _module("tools/visualize.py").main,
             ["localize", avsa, "--checkpoint", path, "--out", str(tmp_path / "localize.png")])
    assert not marker.exists()
    # the payload is live: an ordinary unpickler runs it
    pickle.loads(pickle.dumps(_Payload(marker)))  # noqa: S301 (the point of the test)
    assert marker.is_dir()


def test_convert_tool_refuses_it_and_says_it_loads_safely(tmp_path, capsys):
    convert = _module("tools/convert_reference_checkpoint.py")
    marker = tmp_path / "code-ran"
    source = tmp_path / "checkpoint.pth.tar"  # the original's layout: no avsa_version
    torch.save({"epoch": 100, "model": {}, "train_criterion": {}, "args": _Payload(marker)}, source)
    _refused(capsys, convert.main, [str(source), str(tmp_path / "out.pth")])
    assert not marker.exists() and not (tmp_path / "out.pth").exists()
    with pytest.raises(SystemExit):
        convert.main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "torch.load(weights_only=True)" in text and "cannot run code" in text
