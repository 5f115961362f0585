"""Small file helpers shared by scripts and tools: content hashes and atomic JSON records."""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any


def file_sha256(path: str) -> str:
    """SHA-256 of a file's bytes (hex), read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


_SHA256: dict[tuple, str] = {}


def cached_sha256(path: str) -> str:
    """``file_sha256`` remembered per (path, size, modification time) for this process."""
    info = os.stat(path)
    key = (os.path.abspath(path), info.st_size, info.st_mtime_ns)
    if key not in _SHA256:
        _SHA256[key] = file_sha256(path)
    return _SHA256[key]


def write_text(path: str, text: str) -> None:
    """Write ``text`` atomically (temporary file + ``os.replace``), creating the directory if needed: a reader sees
    the old or the new content, never a part."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, f".{os.path.basename(path)}.tmp{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def write_json(path: str, data: Any, indent: int | None = 2) -> None:
    """Write ``data`` as JSON atomically (`write_text`)."""
    write_text(path, json.dumps(data, indent=indent) + "\n")
