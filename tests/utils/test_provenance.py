"""Provenance of results: the git commit of the checkout the code runs from (none outside one, or without git) and
the library versions."""

import os
import re
import shutil
import subprocess

import pytest
import torch

from utils import provenance

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def _git(repo, *args):
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def checkout(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "train.py").write_text("print('v1')\n")
    _git(repo, "add", "train.py")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-q", "-m", "v1")
    provenance.git_state.cache_clear()
    yield repo
    provenance.git_state.cache_clear()


def test_commit_and_dirty_flag_inside_a_checkout(checkout):
    state = provenance.git_state(str(checkout))
    assert re.fullmatch(r"[0-9a-f]{40}", state["commit"]) and state["commit"] == _git(checkout, "rev-parse", "HEAD")
    assert state["dirty"] is False
    (checkout / "notes.txt").write_text("untracked files do not make the code differ\n")
    provenance.git_state.cache_clear()
    assert provenance.git_state(str(checkout))["dirty"] is False
    (checkout / "train.py").write_text("print('v2')\n")
    provenance.git_state.cache_clear()
    assert provenance.git_state(str(checkout)) == {"commit": state["commit"], "dirty": True}


def test_no_commit_outside_a_checkout_or_without_git(checkout, tmp_path, monkeypatch):
    plain = tmp_path / "copy"
    plain.mkdir()
    assert provenance.git_state(str(plain)) is None                  # a copy of the code without .git
    inner = checkout / "vendored"
    inner.mkdir()
    assert provenance.git_state(str(inner)) is None                  # inside another project's checkout
    provenance.git_state.cache_clear()
    monkeypatch.setenv("PATH", str(tmp_path / "no-git-here"))
    assert provenance.git_state(str(checkout)) is None               # git not installed
    environment = provenance.environment(str(plain))
    assert environment["git"] is None and environment["versions"]["torch"] == torch.__version__
    assert set(environment["versions"]) == {"python", "torch", "cuda", "torchvision", "torchaudio", "av", "numpy"}


def test_this_code_reports_its_own_checkout():
    provenance.git_state.cache_clear()
    state = provenance.git_state()
    if os.path.exists(os.path.join(provenance.REPO, ".git")):
        assert re.fullmatch(r"[0-9a-f]{40}", state["commit"]) and state["commit"] == _git(provenance.REPO, "rev-parse",
                                                                                          "HEAD")
    else:
        assert state is None
