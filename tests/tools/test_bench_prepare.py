"""tools/bench_prepare.py on two tiny sources: every 10-s segment cut with each worker count, whole and checked."""

import json
import os

import pytest

from tests.scripts import load_script


def test_cuts_every_segment_with_each_worker_count(tmp_path):
    out = tmp_path / "bench.json"
    assert load_script("tools/bench_prepare.py").main([
        "--workers", "1,2", "--sources", "2", "--source-seconds", "10", "--size", "64x32", "--height", "16",
        "--folder", str(tmp_path), "--json", str(out)]) == 0
    results = json.loads(out.read_text())["results"]
    assert [(r["workers"], r["segments"], r["problems"]) for r in results] == [(1, 2, 0), (2, 2, 0)]
    assert all(r["cpu_s_per_segment"] > 0 and r["segments_per_s"] > 0 for r in results)
    for count in (1, 2):
        manifest = json.loads((tmp_path / f"prepared-{count}" / "manifest.json").read_text())
        assert [(m["id"], m["start"]) for m in manifest] == [(f"benchsrc{n:03d}", s) for n in range(2) for s in (0,)]
        assert [m["duration"] for m in manifest] == pytest.approx([10.0] * 2, abs=0.05)
        assert {(m["width"], m["height"], m["fps"], m["channels"], m["rate"]) for m in manifest} == {(32, 16, 30, 4,
                                                                                                      24000)}
    assert os.path.isfile(tmp_path / "sources-64x32-10s" / "benchsrc001.mp4")
