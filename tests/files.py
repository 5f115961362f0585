"""Everything a test run left in a folder, to check that a command did not change it."""

import os


def folder_files(root, with_mtime: bool = False) -> dict:
    """Every file under ``root`` (relative path) with its bytes, or (bytes, modification time in ns)."""
    found = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            with open(path, "rb") as f:
                data = f.read()
            found[os.path.relpath(path, root)] = (data, os.stat(path).st_mtime_ns) if with_mtime else data
    return found
