"""Every benchmark config (paper and demo) validates and encodes its paper cell."""

import glob
import os
import re

import pytest

from evaluation.schema import EVAL_SCHEMA
from utils.config import load_config

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BASES = {"common.yaml", "yt360.yaml", "action.yaml"}
LEAVES = sorted(p for p in glob.glob(os.path.join(REPO, "configs", "**", "benchmark", "**", "*.yaml"), recursive=True)
                if os.path.basename(p) not in BASES)


def _load(path):
    return load_config(path, required=("benchmark", "dataset"), schema=EVAL_SCHEMA)


def test_every_paper_cell_has_a_config():
    names = {_load(p)["benchmark"]["name"] for p in LEAVES}
    for t in ("notransf", "transf"):
        for k in (1, 4):
            assert {f"avc-{t}-{k}crop-yt360", f"avsa-{t}-{k}crop-yt360"} <= names
    for mode in ("head", "e2e"):
        assert {f"yt360-fpn-4crop-{mode}-{v}" for v in ("vonly", "audio", "audio-ctx")} <= names
    assert {"ucf101-8at16", "ucf101-8at16-scratch", "hmdb51-8at16", "hmdb51-8at16-scratch"} <= names
    assert len(names) == len(LEAVES)  # one run directory per config


@pytest.mark.parametrize("path", LEAVES, ids=lambda p: os.path.relpath(p, REPO))
def test_config_encodes_its_cell(path):
    cfg = _load(path)
    bench, data = cfg["benchmark"], cfg["dataset"]
    name = os.path.basename(path)
    if match := re.match(r"(avc|avsa)-(notransf|transf)-(\d)crop", name):
        assert bench["task"] == f"{match[1]}-bin"
        assert bench["use_transf"] == (match[2] == "transf")
        assert data["viewpoints"]["num"] == int(match[3])
        assert (data["misalign"]["probability"] > 0) == (match[1] == "avsa")
    if bench["task"] == "segmentation":
        assert data["segmentation"] and not data["test"]["augment"]  # no test-time augmentation
        assert bench["use_context"] == ("ctx" in name) and bench["use_audio"] == ("audio" in name)
        assert bench["train_encoders"] == ("e2e" in name)
    if name.startswith("hmdb"):
        assert data["num_classes"] == 51
    if bench["task"] == "action" and "demo" not in path:
        assert data["test"]["mode"] == "video" and data["test"]["clips_per_video"] == 25
        assert bench["scratch"] == name.endswith("-scratch.yaml")
