"""File helpers: the content hash equals hashlib's of the bytes; JSON records are written whole."""

import hashlib
import json
import os

from utils.files import file_sha256, write_json


def test_file_sha256_matches_hashlib_over_several_blocks(tmp_path):
    data = os.urandom((1 << 20) * 2 + 123)  # crosses the 1 MiB block boundary twice
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    assert file_sha256(str(path)) == hashlib.sha256(data).hexdigest()


def test_write_json_is_complete_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "sub" / "results.json"
    write_json(str(path), {"metrics": {"acc": 65.5}})
    assert json.loads(path.read_text()) == {"metrics": {"acc": 65.5}}
    assert os.listdir(path.parent) == ["results.json"]


def test_cached_sha256_hashes_a_file_once_until_it_changes(tmp_path, monkeypatch):
    """A multi-fold evaluation asks for its pre-trained checkpoint's hash once per fold: the bytes are read once."""
    from utils import files

    reads = []
    monkeypatch.setattr(files, "file_sha256", lambda path: reads.append(path) or file_sha256(path))
    path = tmp_path / "checkpoint.pth"
    path.write_bytes(b"first")
    assert files.cached_sha256(str(path)) == files.cached_sha256(str(path)) == hashlib.sha256(b"first").hexdigest()
    assert len(reads) == 1
    path.write_bytes(b"second, longer")  # another size: hashed again
    assert files.cached_sha256(str(path)) == hashlib.sha256(b"second, longer").hexdigest() and len(reads) == 2
