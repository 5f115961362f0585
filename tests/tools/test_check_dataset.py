"""tools/check_dataset.py: lists exactly the broken files of a mixed folder with their reasons; exit codes 0/1/2."""

import os
import subprocess
import sys

import pytest
from torch.utils.data import DataLoader

from tests.datasets.media_fixtures import write_bad_corpus
from tests.scripts import load_script

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOL = os.path.join(REPO, "tools", "check_dataset.py")


def _tool():
    return load_script(TOOL)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("mixed"))
    good, bad = write_bad_corpus(root)
    config = os.path.join(root, "check.yaml")
    with open(config, "w") as f:
        f.write(f"dataset: {{name: yt360, root: {root}, segmentation: true, viewpoints: {{num: 2}}, "
                "video: {crop_size: 16}}\n")
    return config, good, bad


def test_lists_exactly_the_broken_files(corpus, capsys):
    config, good, bad = corpus
    assert _tool().main([config, "--split", "test"]) == 1
    out = capsys.readouterr().out
    assert f"{len(good) + len(bad)} items" in out
    assert f"decoded fine: {len(good)} of {len(good) + len(bad)} items" in out
    lines = out.split("bad files")[1].strip().splitlines()[1:]
    assert len(lines) == len(bad)
    for video_id, reason in bad.items():
        matching = [line for line in lines if video_id in line]
        assert len(matching) == 1 and reason in matching[0], (video_id, matching)
    assert not any(good_id in out for good_id in good)  # the variable-frame-rate file is fine


def test_good_folder_exits_0_and_bad_config_exits_2(corpus, tmp_path, capsys, monkeypatch):
    config, good, _ = corpus
    good_list = tmp_path / "good.txt"
    good_list.write_text("\n".join(good))
    tool, workers = _tool(), []
    monkeypatch.setattr(tool, "available_cores", lambda: 1)  # fewer cores than items: the cores decide
    monkeypatch.setattr(tool, "DataLoader", lambda *args, num_workers, **kwargs: workers.append(num_workers) or
                        DataLoader(*args, num_workers=num_workers, **kwargs))
    assert tool.main([config, "--set", f"dataset.train_list={good_list}", "--decode", "2"]) == 0
    assert "decoded fine: 2 of 2 items" in capsys.readouterr().out
    assert workers == [1]  # one decoding process per core by default, not one per item
    proc = subprocess.run([sys.executable, TOOL, config, "--set", "dataset.viewpoints.num=9",
                           "--set", "dataset.viewpoints.min_separation_deg=90"], capture_output=True, text=True,
                          cwd=REPO)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "error: --set: dataset.viewpoints.num: 9 viewpoints cannot be 90° apart within elevations "
        "[-30.0, 30.0]; at most 4 fit"]
