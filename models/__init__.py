"""Encoders and the audio-visual model; ``build_model(cfg["model"])`` and the schema of the ``model`` section.

    model: {name: Cur-Loc4-TransfD2, model_dir: checkpoints/AVSA/YT360/R2Plus1D-D18-S112, init_from: null,
            video: {arch: r2plus1d, depth: 18, width: 64}, audio: {arch: conv2d, depth: 10, width: 64}}

``width`` scales every layer's channels (embedding size 8·width; 64 is the paper's, 4–16 make tiny CPU models);
video and audio must have the same. ``audio.in_channels`` follows from the dataset's audio (4 FOA log-mels, 7 with
``dataset.audio.intensity``) unless set, and must agree with it (docs/configs.md).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from datasets import audio_channels
from models.audio import SUPPORTED_DEPTHS as AUDIO_DEPTHS
from models.audio import Conv2D
from models.av import AVModel
from models.video import BLOCKS_PER_STAGE, R2Plus1D
from utils.audio_features import FOA_CHANNELS, INTENSITY_CHANNELS
from utils.checkpoint import load_checkpoint, load_state_strict
from utils.config import REQUIRED, Field, Section
from utils.errors import ConfigError

__all__ = ["AVModel", "R2Plus1D", "Conv2D", "VIDEO_ENCODERS", "AUDIO_ENCODERS", "MODEL_SCHEMA", "audio_input_problem",
           "build_model", "build_video_encoder", "build_audio_encoder"]

VIDEO_ENCODERS = {"r2plus1d": R2Plus1D}
AUDIO_ENCODERS = {"conv2d": Conv2D}


def _check_model(section: dict) -> str | None:
    if section["video"]["width"] != section["audio"]["width"]:
        return (f"audio: width {section['audio']['width']} must equal video.width {section['video']['width']} "
                f"(both embeddings must have the same size)")
    return None


def _audio_input(dataset_cfg: dict) -> str:
    intensity = dataset_cfg["audio"]["intensity"]
    return (f"dataset.audio.intensity: {str(intensity).lower()} gives {audio_channels(dataset_cfg)} audio channels "
            f"per crop ({FOA_CHANNELS} log-mels{f' + {INTENSITY_CHANNELS} intensity-vector' if intensity else ''})")


def audio_input_problem(dataset_cfg: dict, model_cfg: dict) -> str | None:
    """Why the audio encoder of a resolved ``model`` section cannot read the audio of a ``dataset`` section (e.g. an
    evaluation's), as ``"dataset.audio.intensity: ..."``; None when it can or the dataset has no audio."""
    channels, expected = audio_channels(dataset_cfg), model_cfg["audio"]["in_channels"]
    if channels is None or channels == expected:
        return None
    return f"{_audio_input(dataset_cfg)}, but model.audio.in_channels is {expected}"


def _resolve_audio_channels(cfg: dict) -> str | None:
    """Config check: ``model.audio.in_channels`` null becomes the dataset's audio channel count; a set value must
    equal it."""
    if "model" not in cfg:
        return None
    audio = cfg["model"]["audio"]
    channels = audio_channels(cfg["dataset"]) if "dataset" in cfg else None
    if audio["in_channels"] is None:
        if channels is None:
            return ("model.audio.in_channels: null takes the audio channels of the YT-360 dataset section, which this "
                    "config lacks; set it (4 FOA log-mels, 7 with intensity vectors)")
        audio["in_channels"] = channels
    elif channels is not None and channels != audio["in_channels"]:
        return (f"model.audio.in_channels: {audio['in_channels']}, but {_audio_input(cfg['dataset'])}; leave "
                f"model.audio.in_channels unset to take it from the dataset")
    return None


MODEL_SCHEMA = Section({
    "name": Field(str, REQUIRED, help="run name: the run directory is <model_dir>/<name>"),
    "model_dir": Field(str, "checkpoints", help="parent directory of the run directories"),
    "init_from": Field(str, None, nullable=True,
                       help="avsa checkpoint whose `model` entry initialises both encoders (curriculum phase 2)"),
    "video": Section({
        "arch": Field(str, "r2plus1d", choices=list(VIDEO_ENCODERS)),
        "depth": Field(int, 18, choices=sorted(BLOCKS_PER_STAGE)),
        "width": Field(int, 64, min=1, help="channels of the first stage; embedding size = 8·width"),
    }),
    "audio": Section({
        "arch": Field(str, "conv2d", choices=list(AUDIO_ENCODERS)),
        "depth": Field(int, 10, choices=list(AUDIO_DEPTHS)),
        "width": Field(int, 64, min=1, help="channels of the first stage; embedding size = 8·width"),
        "in_channels": Field(int, None, nullable=True, min=1,
                             help="input spectrogram channels; null: the dataset's (4 FOA log-mels, 7 with "
                                  "dataset.audio.intensity)"),
    }),
}, check=_check_model, config_check=_resolve_audio_channels)


def build_video_encoder(video_cfg: Mapping):
    return VIDEO_ENCODERS[video_cfg["arch"]](depth=video_cfg["depth"], width=video_cfg["width"])


def build_audio_encoder(audio_cfg: Mapping):
    return AUDIO_ENCODERS[audio_cfg["arch"]](depth=audio_cfg["depth"], width=audio_cfg["width"],
                                             in_channels=audio_cfg["in_channels"])


def build_model(model_cfg: Mapping, *, load_init: bool = True) -> AVModel:
    """The audio-visual model of a validated ``model`` section.

    With ``load_init`` (the default) and ``init_from`` set, both encoders start from that checkpoint's ``model``
    entry (strict). Pass ``load_init=False`` when the weights come from elsewhere right after (resume, evaluation
    of a trained run), so the phase-1 file need not exist then (the original loaded it on every start).
    """
    model = AVModel(build_video_encoder(model_cfg["video"]), build_audio_encoder(model_cfg["audio"]))
    if load_init and model_cfg["init_from"]:
        path = model_cfg["init_from"]
        if not os.path.isfile(path):  # a wrong path in the config: exit code 2 like every missing config file
            raise ConfigError(f"<config>: model.init_from: checkpoint not found: {path} (a fresh curriculum phase-2 "
                              f"run starts from it; a resumed run does not need it)")
        load_state_strict(model, load_checkpoint(path)["model"], "model (model.init_from)", path)
    return model
