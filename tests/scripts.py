"""Load a hyphenated entry point (``main-video-ssl.py``, ``eval-avsa.py``) or a tool as a module, for tests that
call its ``main(argv)`` in-process."""

import importlib.util
import os
import sys
from types import ModuleType

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_script(path: str) -> ModuleType:
    """Execute the file at ``path`` (absolute, or relative to the repository root) as a fresh module. It is
    registered in ``sys.modules`` under its sanitised name, which dataclasses and pickling look up."""
    path = path if os.path.isabs(path) else os.path.join(REPO, path)
    name = "script_" + os.path.basename(path)[:-3].replace("-", "_")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
