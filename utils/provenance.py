"""Where a result came from: the code's git commit (when it runs from a git checkout) and the library versions, as
recorded in ``results.json`` and in checkpoints."""

from __future__ import annotations

import functools
import os
import platform
import subprocess
from importlib import metadata

import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIBRARIES = ("torchvision", "torchaudio", "av", "numpy")


@functools.lru_cache(maxsize=None)
def git_state(repo: str = REPO) -> dict | None:
    """``{"commit": 40 hex digits, "dirty": tracked files differ from it}`` of the checkout at ``repo``; None when it
    is not a git checkout or git is not installed. Computed once per process."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, timeout=30,
                              check=True).stdout.strip()

    try:
        if os.path.realpath(git("rev-parse", "--show-toplevel")) != os.path.realpath(repo):
            return None  # ``repo`` is a copy inside some other checkout, not a checkout of its own
        return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}
    except (OSError, subprocess.SubprocessError):
        return None


def versions() -> dict[str, str | None]:
    """Python's and the libraries' versions (None: not installed); ``torch`` with its build tag, ``cuda`` the CUDA
    version it was built for (None: a CPU-only build)."""
    found: dict[str, str | None] = {"python": platform.python_version(), "torch": str(torch.__version__),
                                    "cuda": torch.version.cuda}
    for name in LIBRARIES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def environment(repo: str = REPO) -> dict:
    """``{"git": git_state(repo), "versions": versions()}``."""
    return {"git": git_state(repo), "versions": versions()}
