"""Shared test helpers. Tests that read ../shared/ skip cleanly when it is absent."""

import os
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(REPO), "shared")
if REPO not in sys.path:
    sys.path.insert(0, REPO)


def shared_path(*parts: str) -> str:
    """Path under ../shared/, skipping the calling test when it does not exist."""
    path = os.path.join(SHARED, *parts)
    if not os.path.exists(path):
        pytest.skip(f"{path} not available (only developers of avsa have ../shared/)")
    return path


@pytest.fixture
def repo_root() -> str:
    return REPO
