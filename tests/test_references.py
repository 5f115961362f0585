"""No shipped file points its reader to a document users do not have.

avsa's developers work from a private specification and asset folder kept beside the checkout (a sibling folder
named ``shared``, the spec in its ``spec`` subfolder). Users get the repository only, so a shipped file must not send
them there: no "spec" section citation (the word spec followed by a section sign), no section sign followed by a
number (the spec's numbering; our docs link by file and heading), no path into the sibling folder (dot-dot slash
shared, or shared slash spec) and no name of a spec document. Where a comment needs what the original code did, it
says so in one sentence, or points to docs/original-code.md or docs/paper-fidelity.md.

Shipped = every git-tracked file (``git ls-files``); without a git checkout, every file of the tree except the
folders git ignores (.venv, data, results, checkpoints, runs, caches). Binary files (a NUL byte) are skipped.

Allow-list, one entry: ``tests/conftest.py`` may name the sibling folder (not the spec's sections). Its
``shared_path`` helper is the only way tests reach the developers' files, and it skips the calling test cleanly when
the folder is absent, so its docstring and skip message have to say which folder that is. The tests that read those
files pass path parts to ``shared_path`` ("reference-assets", "spec", ...) and never spell the folder themselves,
so they need no entry. This file builds its patterns from pieces, so it does not match itself.
"""

from __future__ import annotations

import os
import re
import subprocess

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECTION = "\u00a7"
SIBLING = ".." + "/" + "shared"
# name -> pattern (case-insensitive)
PATTERNS = {
    "spec section": re.compile("spec" + r"\s*" + SECTION, re.IGNORECASE),
    "section number": re.compile(SECTION + r"\s*\d"),
    "sibling folder": re.compile(re.escape(SIBLING) + "|" + re.escape(SIBLING.replace("/", "\\")), re.IGNORECASE),
    "spec folder": re.compile("shared" + "/" + "spec", re.IGNORECASE),
    "spec document": re.compile("|".join(re.escape(n) for n in ("reference-" + "implementation.md",
                                                                    "demo-" + "feasibility.md")), re.IGNORECASE),
}
# path -> pattern names that file may contain (see the module docstring)
ALLOWED = {"tests/conftest.py": {"sibling folder"}}
IGNORED_TOP = {".git", ".venv", "data", "results", "checkpoints", "runs", ".cache", ".whl"}
IGNORED_ANYWHERE = {"__pycache__", ".pytest_cache", ".ruff_cache"}


def shipped_files(root: str) -> list[str]:
    """Repository-relative paths (with '/') of the shipped files under ``root``."""
    if os.path.exists(os.path.join(root, ".git")):
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True).stdout
        return sorted(p for p in listed.decode().split("\0") if p and os.path.isfile(os.path.join(root, p)))
    paths = []
    for folder, dirs, files in os.walk(root):
        top = folder == root
        dirs[:] = sorted(d for d in dirs if d not in IGNORED_ANYWHERE and not (top and d in IGNORED_TOP))
        paths += [os.path.relpath(os.path.join(folder, f), root).replace(os.sep, "/") for f in files]
    return sorted(paths)


def unresolvable_references(root: str) -> list[str]:
    """``path:line: [pattern names] text`` for every reference a user cannot follow, allow-list applied."""
    found = []
    for path in shipped_files(root):
        with open(os.path.join(root, path), "rb") as f:
            data = f.read()
        if b"\0" in data[:8192]:
            continue
        allowed = ALLOWED.get(path, set())
        for number, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), 1):
            names = [name for name, pattern in PATTERNS.items() if name not in allowed and pattern.search(line)]
            if names:
                found.append(f"{path}:{number}: [{', '.join(names)}] {line.strip()[:100]}")
    return found


def test_no_shipped_file_cites_documents_users_do_not_have():
    found = unresolvable_references(REPO)
    assert not found, f"{len(found)} reference(s) users cannot follow:\n" + "\n".join(found)


@pytest.mark.parametrize("line, name", [
    ("# as the original (spec " + SECTION + "10.26)", "spec section"),
    ('"""Spec ' + SECTION + '2.1 + ' + SECTION + '8.4: things value"""', "spec section"),
    ('files tagged "quad" (' + SECTION + "10.15)", "section number"),
    ("see " + SIBLING + "/reference-assets", "sibling folder"),
    ("Settings of " + "shared" + "/" + "spec/demo.md", "spec folder"),
    ("the prototype of demo-" + "feasibility.md", "spec document"),
])
def test_each_pattern_is_caught_outside_git_and_the_allow_list_is_per_pattern(tmp_path, line, name):
    """The tree walk (no .git) finds a planted reference, skips ignored folders and binaries, and the conftest
    entry allows the sibling folder only."""
    for relative in ("models/x.py", "data/y.py", ".venv/z.py", "models/__pycache__/x.pyc"):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(f"ok\n{line}\n")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "figure.png").write_bytes(b"\x89PNG\0" + line.encode())
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "conftest.py").write_text(line + "\n")
    found = [entry.split(": [")[0] for entry in unresolvable_references(str(tmp_path)) if name in entry]
    assert found == ["models/x.py:2"] + (["tests/conftest.py:1"] if name != "sibling folder" else [])
