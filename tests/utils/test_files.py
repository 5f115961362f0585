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
