"""Dataset indexes built by scanning the disk, cached as JSON, rebuilt whenever a file or a list changes.

The original code cached its YT-360 index forever, so adding, removing or replacing a file, or editing a split list,
silently kept the stale index. Here the cache stores a fingerprint of every file it was built from (relative name,
size, modification time) and is rebuilt when the fingerprint differs. Computing the fingerprint costs one directory
walk and one ``stat`` per file, far less than rebuilding (which, for UCF/HMDB, parses every list file). A cache that
cannot be written (read-only dataset folder) only costs a warning.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterable

log = logging.getLogger("avsa.datasets")

__all__ = ["fingerprint", "cached_index"]

# Bumped when the layout of a cached index changes, so old caches are rebuilt instead of misread.
INDEX_VERSION = 1


def _files(source: str) -> Iterable[str]:
    if os.path.isdir(source):
        for folder, subdirs, names in os.walk(source):
            subdirs.sort()
            for name in sorted(names):
                yield os.path.join(folder, name)
    elif os.path.exists(source):
        yield source


def fingerprint(sources: Iterable[str], extra: object = None) -> str:
    """Hex digest over (path, size, mtime) of every file in ``sources`` (files, or folders walked recursively)
    plus ``extra`` (JSON-serialisable build parameters). A missing source contributes its absence."""
    digest = hashlib.sha1(json.dumps([INDEX_VERSION, extra], sort_keys=True).encode())
    for source in sources:
        digest.update(f"\0source {source}\0".encode())
        for path in _files(source):
            stat = os.stat(path)
            digest.update(f"{os.path.relpath(path, source)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def cached_index(cache_path: str | None, sources: Iterable[str], build: Callable[[], dict],
                 extra: object = None) -> dict:
    """``build()``'s result, read from ``cache_path`` when the fingerprint of ``sources`` (and ``extra``) is the
    one stored there, otherwise built and written (atomically). ``cache_path=None`` disables caching."""
    if cache_path is None:
        return build()
    key = fingerprint(sources, extra)
    try:
        with open(cache_path, encoding="utf-8") as f:
            cached = json.load(f)
        if cached.get("fingerprint") == key:
            return cached["index"]
    except (OSError, ValueError, AttributeError, KeyError):
        pass  # absent, unreadable or foreign: rebuild
    index = build()
    tmp = f"{cache_path}.tmp{os.getpid()}"
    try:
        os.makedirs(os.path.dirname(cache_path) or ".", exist_ok=True)
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump({"fingerprint": key, "index": index}, f)
        os.replace(tmp, cache_path)
    except OSError as err:
        log.warning("cannot write the dataset index cache %s (%s); indexing again next time", cache_path, err)
    return index
