"""Every paper config, pinned: each file of configs/main/avsa/ and configs/benchmark/ has a row here, and each row
pins the resolved values (utils.config.load_config, so inheritance and defaults count) of the keys that make it the
paper's experiment, with where the value comes from:

* "paper Sec. …": the paper's text;
* "original code: …": the authors' released configs and scripts, where the paper says nothing;
* DEVIATION: a deliberate difference from the original code (or the paper), one row in docs/paper-fidelity.md,
  which must name the key.

A new config without a row fails (`test_every_config_has_a_row`), and so does a change of a pinned value. Left out on
purpose: ``dataset.audio.stats`` (the statistics file each config names). Evaluation input keys of the YT-360
benchmarks (clip lengths, rates, STFT) are grouped in ``EVAL_INPUT``.
"""

import glob
import math
import os

import pytest
import yaml

from evaluation.schema import load_any_config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIDELITY_DOC = os.path.join(REPO, "docs", "paper-fidelity.md")

PAPER = "paper Sec. 3.1"
PAPER_EQ8 = "paper Eq. (8)"
PAPER_BASELINES = "paper Sec. 3.1, baseline pre-training methods"
PAPER_SEGM = "paper Sec. 3.2 and Table 2"
PAPER_ACTION = "paper Sec. 3.2 and Table 3"
ORIGINAL = "original code: pre-training config"
ORIGINAL_CURRICULUM = "original code: Cur-Loc4-TransfD2 config and training script"
ORIGINAL_RELEASED = "original code: how the released model was trained"
ORIGINAL_YT360_EVAL = "original code: YT-360 benchmark configs (AVC-Bin, AVSA-Bin, segmentation)"
ORIGINAL_AVC = "original code: AVC-Bin configs and eval-avc.py"
ORIGINAL_AVSA = "original code: AVSA-Bin configs and eval-avsa.py"
ORIGINAL_SEGM = "original code: segmentation configs and eval-audiovisual-segm.py"
ORIGINAL_ACTION = "original code: UCF101/HMDB51 configs and eval-action-recg.py"
DEVIATION = "deviation: see docs/paper-fidelity.md"
MIN30_VARIANT = "this project: run name of the 30° AVSA-Bin variant"


def hf_degrees(*hf: float) -> list[float]:
    """The original's FOV unit (``hfov_lims``: tangent-plane half-width π·hf, so hfov = 2·atan(π·hf)) in degrees, to
    the 0.1° the configs write."""
    return [round(math.degrees(2 * math.atan(math.pi * x)), 1) for x in hf]


def test_the_originals_fov_unit():
    assert hf_degrees(0.0707, 0.25) == [25.0, 76.3]


def pins(source: str, values: dict) -> list[tuple[str, object, str]]:
    return [(key, value, source) for key, value in values.items()]


def override(base: list, *groups: list) -> list:
    """``base``'s pins with those of ``groups`` replacing the ones of the same keys."""
    new = [pin for group in groups for pin in group]
    keys = {key for key, _, _ in new}
    return [pin for pin in base if pin[0] not in keys] + new


# ------------------------------------------------------------------------------------------ pre-training
PRETRAIN = [
    *pins(PAPER, {"dataset.video.clip_duration": 0.5, "dataset.video.fps": 16, "dataset.video.crop_size": 112,
                  "dataset.audio.clip_duration": 1.0, "dataset.audio.rate": 24000, "model.video.arch": "r2plus1d",
                  "model.video.depth": 18, "optimizer.name": "adam", "optimizer.lr": 1e-4,
                  "optimizer.weight_decay": 1e-5, "optimizer.betas": [0.9, 0.999]}),
    *pins(ORIGINAL, {"dataset.name": "yt360", "dataset.sampling": "video", "dataset.audio.format": "ambix",
                     "dataset.audio.n_fft": 512, "dataset.audio.hop": 240, "dataset.audio.n_mels": 128,
                     "dataset.audio.intensity": False,
                     "dataset.viewpoints.hfov_deg": hf_degrees(0.0707, 0.25), "dataset.viewpoints.test_hfov_deg": None,
                     "dataset.viewpoints.aspect_jitter": True, "dataset.viewpoints.min_separation_deg": 0.0,
                     "dataset.train.clips_per_video": 2, "dataset.test.clips_per_video": 1,
                     "dataset.train.augment": True, "dataset.test.augment": False, "dataset.train.drop_last": True,
                     "dataset.color_jitter": True, "dataset.volume_jitter": True, "dataset.misalign.probability": 0.0,
                     "dataset.segmentation": False, "model.video.width": 64, "model.audio.arch": "conv2d",
                     "model.audio.depth": 10, "model.audio.width": 64, "model.audio.in_channels": 4,
                     "optimizer.schedule.name": "constant", "loss.temperature": 0.07, "loss.proj_dim": 128}),
    *pins(DEVIATION, {"dataset.viewpoints.elevation_deg": [-30.0, 30.0], "dataset.joint_flip": True}),
]
PAPER_INPUT_ORDER = pins(DEVIATION, {"dataset.video_placement": "centred", "dataset.rotation_order": "correct"})
TRANSFORMER_D2 = [*pins(PAPER, {"loss.translation.kind": "transformer", "loss.translation.depth": 2}),
                  *pins(ORIGINAL, {"loss.translation.expansion": 4, "loss.translation.multihead": False,
                                   "loss.translation.dropout": 0.1, "loss.translation.position_encoding": "none"})]
K4 = pins(PAPER, {"dataset.viewpoints.num": 4, "dataset.batch_size": 28, "dataset.temporal_clips": 1})
FROM_SCRATCH_100 = pins(PAPER, {"optimizer.epochs": 100, "model.init_from": None})
AVSA = [*pins(PAPER_EQ8, {"loss.name": "avsa", "loss.negatives": "paper"}), *K4, *TRANSFORMER_D2]
CURRICULUM = [*pins(PAPER, {"optimizer.epochs": 50}),
              *pins(ORIGINAL_CURRICULUM, {
                  "model.init_from": "checkpoints/AVSA/YT360/R2Plus1D-D18-S112/CrossInstDisc/checkpoint-ep50.pth"})]
CUR_AVSA = [*PRETRAIN, *PAPER_INPUT_ORDER, *AVSA, *CURRICULUM,
            *pins(ORIGINAL, {"dataset.audio.parity": False})]

MAIN = "configs/main/avsa/"
PRETRAINING_ROWS = {
    f"{MAIN}InstDisc.yaml": [
        *PRETRAIN, *PAPER_INPUT_ORDER, *FROM_SCRATCH_100,
        *pins(PAPER, {"loss.name": "avc", "loss.translation.kind": "none"}),
        *pins(ORIGINAL, {"model.name": "CrossInstDisc", "dataset.batch_size": 112, "dataset.viewpoints.num": 1,
                         "dataset.temporal_clips": 1}),
        *pins(ORIGINAL_CURRICULUM, {"snapshot_epochs": [50]})],
    f"{MAIN}AVC-Loc4-TransfD2.yaml": [
        *PRETRAIN, *PAPER_INPUT_ORDER, *FROM_SCRATCH_100, *K4, *TRANSFORMER_D2,
        *pins(PAPER_BASELINES, {"loss.name": "avc", "loss.pool_viewpoints": "max"})],
    f"{MAIN}AVTS.yaml": [
        *PRETRAIN, *PAPER_INPUT_ORDER, *FROM_SCRATCH_100,
        *pins(PAPER_BASELINES, {"loss.name": "avts", "loss.translation.kind": "none"}),
        *pins(DEVIATION, {"dataset.batch_size": 56, "dataset.temporal_clips": 2, "dataset.viewpoints.num": 1,
                          "loss.moments": 2})],
    f"{MAIN}AVTS-Loc4-TransfD2.yaml": [
        *PRETRAIN, *PAPER_INPUT_ORDER, *FROM_SCRATCH_100, *TRANSFORMER_D2,
        *pins(PAPER_BASELINES, {"loss.name": "avts", "loss.pool_viewpoints": "max", "dataset.batch_size": 28}),
        *pins(DEVIATION, {"dataset.temporal_clips": 2, "dataset.viewpoints.num": 2, "loss.moments": 2})],
    f"{MAIN}NoCur-Loc4-TransfD2.yaml": [*PRETRAIN, *PAPER_INPUT_ORDER, *AVSA, *FROM_SCRATCH_100,
                                        *pins(ORIGINAL, {"dataset.audio.parity": False})],
    f"{MAIN}Cur-Loc4-TransfD2.yaml": CUR_AVSA,
    # "AVSA (mlp)": the transformer replaced by a similarly sized MLP that does not model spatial context
    f"{MAIN}Cur-Loc4-MLP.yaml": override(CUR_AVSA, pins(PAPER_SEGM, {"loss.translation.kind": "mlp"})),
    f"{MAIN}Cur-Loc4-TransfD2-reference.yaml": override(
        CUR_AVSA, pins(ORIGINAL_RELEASED, {"loss.negatives": "reference", "dataset.rotation_order": "reference",
                                           "dataset.video_placement": "uniform", "dataset.audio.parity": True})),
}

# ------------------------------------------------------------------------------------------ benchmarks
BENCH = "configs/benchmark/"
# The YT-360 benchmarks read the pre-training pipeline's inputs (the original's benchmark configs repeat them).
EVAL_INPUT = pins(ORIGINAL_YT360_EVAL, {
    "dataset.name": "yt360", "dataset.video.clip_duration": 0.5, "dataset.video.fps": 16,
    "dataset.video.crop_size": 112, "dataset.audio.clip_duration": 1.0, "dataset.audio.rate": 24000,
    "dataset.audio.n_fft": 512, "dataset.audio.hop": 240, "dataset.audio.n_mels": 128,
    "dataset.audio.intensity": False, "dataset.viewpoints.min_separation_deg": 0.0, "dataset.temporal_clips": 1})
YT360_EVAL = [
    *EVAL_INPUT,
    *pins(ORIGINAL_YT360_EVAL, {"dataset.sampling": "video", "dataset.train.augment": True,
                                "dataset.train.clips_per_video": 1, "benchmark.feature_draws": 0}),
    *pins(DEVIATION, {"dataset.test.augment": False, "dataset.viewpoints.elevation_deg": [-30.0, 30.0]}),
]
BINARY = [
    *YT360_EVAL,
    *pins(ORIGINAL_AVC, {"dataset.batch_size": 32, "dataset.viewpoints.hfov_deg": hf_degrees(0.0707, 0.25),
                         "dataset.viewpoints.test_hfov_deg": None, "benchmark.head.hidden_dim": 512,
                         "benchmark.head.dropout": 0.5, "benchmark.head.normalize": False, "optimizer.name": "adam",
                         "optimizer.weight_decay": 1e-5, "optimizer.epochs": 10,
                         "optimizer.schedule.name": "multistep", "optimizer.schedule.gamma": 0.1}),
]
AVC_BIN = [*BINARY, *pins(ORIGINAL_AVC, {"benchmark.task": "avc-bin", "optimizer.lr": 1e-5,
                                         "optimizer.schedule.milestones": [5, 8], "dataset.test.clips_per_video": 1,
                                         "dataset.misalign.probability": 0.0})]
AVSA_BIN = [*BINARY, *pins(ORIGINAL_AVSA, {"benchmark.task": "avsa-bin", "optimizer.lr": 1e-4,
                                           "optimizer.schedule.milestones": [8], "dataset.misalign.probability": 0.5,
                                           "dataset.misalign.mode": "yaw", "dataset.misalign.min_angle_deg": 0.0})]


def _variant(kind: str, transf: str, crops: int) -> list:
    """K viewpoints and the translation network from the name; AVSA-Bin test clips: the original had 10 for
    notransf and 1 for transf, every variant here has 10."""
    out = pins(ORIGINAL_AVSA if kind == "avsa" else ORIGINAL_AVC,
               {"dataset.viewpoints.num": crops, "benchmark.use_transf": transf == "transf",
                "benchmark.name": f"{kind}-{transf}-{crops}crop-yt360"})
    if kind == "avsa":
        out += pins(ORIGINAL_AVSA if transf == "notransf" else DEVIATION, {"dataset.test.clips_per_video": 10})
    return out


MIN30 = pins(DEVIATION, {"dataset.misalign.min_angle_deg": 30.0})
BINARY_ROWS = {}
for transf in ("notransf", "transf"):
    for crops in (1, 4):
        name = f"{transf}-{crops}crop"
        BINARY_ROWS[f"{BENCH}avc/avc-{name}.yaml"] = [*AVC_BIN, *_variant("avc", transf, crops)]
        BINARY_ROWS[f"{BENCH}avsa/avsa-{name}.yaml"] = [*AVSA_BIN, *_variant("avsa", transf, crops)]
        BINARY_ROWS[f"{BENCH}avsa/avsa-{name}-min30.yaml"] = override(
            [*AVSA_BIN, *_variant("avsa", transf, crops)], MIN30,
            pins(MIN30_VARIANT, {"benchmark.name": f"avsa-{name}-min30-yt360"}))

SEGMENTATION = [
    *YT360_EVAL,
    *pins(ORIGINAL_SEGM, {"benchmark.task": "segmentation", "dataset.segmentation": True, "dataset.batch_size": 20,
                          "dataset.viewpoints.num": 4, "dataset.viewpoints.hfov_deg": hf_degrees(0.15, 0.30),
                          "dataset.viewpoints.test_hfov_deg": hf_degrees(0.25, 0.25),
                          "dataset.test.clips_per_video": 10, "dataset.joint_flip": True,
                          "dataset.misalign.probability": 0.0, "benchmark.head.fpn_dim": 256,
                          "benchmark.head.segm_dim": 128, "benchmark.head.normalize": False, "optimizer.name": "adam",
                          "optimizer.lr": 1e-4, "optimizer.weight_decay": 5e-4, "optimizer.epochs": 10,
                          "optimizer.schedule.name": "multistep", "optimizer.schedule.milestones": [5, 8],
                          "optimizer.schedule.gamma": 0.1}),
]
SEGMENTATION_ROWS = {
    f"{BENCH}segmentation/yt360-fpn-4crop-{mode}-{inputs}.yaml": [
        *SEGMENTATION,
        *pins(ORIGINAL_SEGM, {"benchmark.name": f"yt360-fpn-4crop-{mode}-{inputs}",
                              "benchmark.use_audio": inputs != "vonly",
                              "benchmark.use_context": inputs == "audio-ctx"}),
        # "networks trained on the pretext task were kept frozen" / "we trained the whole system end-to-end"
        *pins(PAPER_SEGM, {"benchmark.train_encoders": mode == "e2e"})]
    for mode in ("head", "e2e") for inputs in ("vonly", "audio", "audio-ctx")
}

ACTION = [
    *pins(PAPER_ACTION, {"dataset.test.mode": "video", "dataset.test.clips_per_video": 25,
                         "benchmark.train_encoders": True}),
    *pins(ORIGINAL_ACTION, {"dataset.batch_size": 28, "dataset.video.clip_duration": 0.5, "dataset.video.fps": 16,
                            "dataset.video.crop_size": 112, "dataset.resize": 128, "dataset.crop_scale": [0.08, 1.0],
                            "dataset.flip": True, "dataset.train.mode": "clip", "dataset.train.augment": True,
                            "dataset.test.augment": False, "benchmark.task": "action", "benchmark.head.dropout": 0.5,
                            "optimizer.name": "adam", "optimizer.lr": 1e-4, "optimizer.weight_decay": 0.0,
                            "optimizer.epochs": 20, "optimizer.schedule.name": "multistep",
                            "optimizer.schedule.milestones": [8, 12, 16], "optimizer.schedule.gamma": 0.3}),
]
ACTION_ROWS = {}
for dataset, classes, clips, classes_source in (("ucf", 101, 5, ORIGINAL_ACTION), ("hmdb", 51, 10, DEVIATION)):
    name = {"ucf": "ucf101", "hmdb": "hmdb51"}[dataset]
    for scratch in (False, True):
        suffix = "-scratch" if scratch else ""
        ACTION_ROWS[f"{BENCH}{dataset}/{dataset}-8at16{suffix}.yaml"] = [
            *ACTION, *pins(classes_source, {"dataset.num_classes": classes}),
            *pins(ORIGINAL_ACTION, {"dataset.name": name, "dataset.train.clips_per_video": clips,
                                    "benchmark.name": f"{name}-8at16{suffix}"}),
            *pins(PAPER_ACTION, {"benchmark.scratch": scratch})]

ROWS = {**PRETRAINING_ROWS, **BINARY_ROWS, **SEGMENTATION_ROWS, **ACTION_ROWS}
# Files only inherited (they do not validate alone); pinned through the configs that inherit them.
BASES = {f"{MAIN}common.yaml", f"{BENCH}yt360.yaml", f"{BENCH}action.yaml", f"{BENCH}avc/common.yaml",
         f"{BENCH}avsa/common.yaml", f"{BENCH}segmentation/common.yaml"}


def _found() -> set[str]:
    paths = glob.glob(os.path.join(REPO, MAIN, "*.yaml")) + glob.glob(os.path.join(REPO, BENCH, "**", "*.yaml"),
                                                                    recursive=True)
    return {os.path.relpath(p, REPO) for p in paths}


def _resolve(cfg: dict, dotted: str):
    node = cfg
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(dotted)
        node = node[part]
    return node


def _bases(path: str) -> set[str]:
    """Every file ``path`` inherits, directly or not (repository-relative)."""
    with open(os.path.join(REPO, path), encoding="utf-8") as f:
        bases = (yaml.safe_load(f) or {}).get("base") or []
    out = set()
    for base in [bases] if isinstance(bases, str) else bases:
        rel = os.path.normpath(os.path.join(os.path.dirname(path), base))
        out |= {rel} | _bases(rel)
    return out


def test_every_config_has_a_row():
    assert _found() == set(ROWS) | BASES
    assert not set(ROWS) & BASES


def test_every_base_is_inherited_by_a_pinned_config():
    inherited = set().union(*(_bases(path) for path in ROWS))
    assert BASES <= inherited


@pytest.mark.parametrize("path", sorted(ROWS))
def test_config_matches_the_paper_and_the_original(path):
    cfg = load_any_config(os.path.join(REPO, path))
    keys = [key for key, _, _ in ROWS[path]]
    assert len(keys) == len(set(keys)), f"{path}: a key is pinned twice"
    assert "dataset.audio.stats" not in keys
    wrong = [f"{key} = {_resolve(cfg, key)!r}, expected {value!r} ({source})"
             for key, value, source in ROWS[path] if _resolve(cfg, key) != value]
    assert not wrong, f"{path}:\n" + "\n".join(wrong)


def test_every_deviation_is_documented():
    """A pin marked DEVIATION names its key in docs/paper-fidelity.md (the row saying why and what restores it)."""
    with open(FIDELITY_DOC, encoding="utf-8") as f:
        doc = f.read()
    keys = {key for rows in ROWS.values() for key, _, source in rows if source == DEVIATION}
    missing = sorted(key for key in keys if f"`{key}" not in doc)
    assert not missing, f"docs/paper-fidelity.md does not mention: {missing}"


def test_fov_conversion_of_the_original_limits():
    """The original's hf limits in degrees: 2·atan(π·hf)."""
    assert hf_degrees(0.0707, 0.25, 0.15, 0.30) == [25.0, 76.3, 50.5, 86.6]
