"""Datasets: YT-360 (360° video + FOA), UCF101 and HMDB51; ``build_dataset`` and the ``dataset`` config section.

    dataset = build_dataset(cfg["dataset"], "train", seed=cfg["seed"])
    loader = DataLoader(dataset, batch_size=..., shuffle=False, drop_last=..., worker_init_fn=seed_worker)
    for epoch in ...:
        dataset.set_epoch(epoch)          # the epoch's sample order, as the original (keep shuffle=False)
        for batch in loader: ...          # batch["failures"]: counted by engine/bad_samples.py

Every dataset returns the sample dictionary of docs/DESIGN.md plus ``failures`` () int64 (`datasets.base`); what a
sample holds, its units and how it is made: docs/data.md, "The sample pipeline".
"""

from __future__ import annotations

from collections.abc import Sequence

from datasets.action import HMDB51, UCF101
from datasets.base import ClipDataset
from datasets.viewpoints import max_viewpoints_for_separation
from datasets.yt360 import YT360
from utils.audio_features import AudioFeatures
from utils.config import Field, Section

__all__ = ["DATASETS", "INPUT_KEYS", "SCHEMA", "audio_channels", "build_dataset"]

# ------------------------------------------------------------------------------------------ config schema


def _split(clips_per_video: int, augment: bool, drop_last: bool, **extra: Field) -> Section:
    return Section({
        "clips_per_video": Field(int, clips_per_video, min=1,
                                 help="epoch multiplier: each sample this many times per epoch; dense video mode: "
                                      "clips per video"),
        "augment": Field(bool, augment, help="random augmentation (flip, colour and volume jitter, resized crops)"),
        "drop_last": Field(bool, drop_last, help="DataLoader drop_last"),
        **extra,
    })


def _degree_range(default: list[float], low: float, high: float) -> Field:
    return Field(list, default, length=2, item=Field(float, min=low, max=high))


_VIDEO = Section({
    "clip_duration": Field(float, 0.5, min=1e-3, help="seconds of video per clip"),
    "fps": Field(float, 16.0, min=1e-3, help="frames per second after resampling; T = round(duration·fps)"),
    "crop_size": Field(int, 112, min=8, help="side of the square output crop (pixels)"),
})

_AUDIO = Section({
    "clip_duration": Field(float, 1.0, min=1e-3, help="seconds of audio per clip (the video window is inside it)"),
    "rate": Field(int, 24000, min=1000, help="resampling rate (Hz)"),
    "format": Field(str, "ambix", choices=["ambix", "fuma"], help="channel convention of the stored FOA"),
    "n_fft": Field(int, 512, min=16),
    "hop": Field(int, 240, min=1, help="STFT hop in samples (240 at 24 kHz = 100 frames/s)"),
    "n_mels": Field(int, 128, min=1),
    "stats": Field(str, None, nullable=True,
                   help="per-mel-band mean/std .npz that standardises the log-mels, relative to root unless absolute "
                        "(made by tools/compute_audio_stats.py; datasets/audio_stats.py); null: not normalised"),
    "parity": Field(bool, False, help="log-mel exactly as the original (magnitude mel spectrogram, half-scale dB)"),
    "intensity": Field(bool, False,
                       help="append 3 intensity-vector channels (Y, Z, X per mel band; model.audio.in_channels "
                            "follows): the sign of each sound's direction, which per-channel log-mels lose "
                            "(front/back and left/right look alike); not in the paper"),
})

def _check_viewpoints(views: dict) -> str | None:
    for key in ("elevation_deg", "hfov_deg", "test_hfov_deg"):
        if views[key] is not None and views[key][0] > views[key][1]:
            return f"{key}: lower bound {views[key][0]} above upper bound {views[key][1]}"
    most = max_viewpoints_for_separation(views["min_separation_deg"], tuple(views["elevation_deg"]))
    if views["num"] > most:
        return (f"num: {views['num']} viewpoints cannot be {views['min_separation_deg']:g}° apart within elevations "
                f"{views['elevation_deg']}; at most {most} fit")
    return None


_VIEWPOINTS = Section({
    "num": Field(int, 1, min=1, help="K viewpoints per sample (per moment with temporal_clips > 1)"),
    "min_separation_deg": Field(float, 0.0, min=0.0, max=180.0, help="minimum angle between the K view centres"),
    "elevation_deg": _degree_range([-30.0, 30.0], -90.0, 90.0),
    "hfov_deg": _degree_range([25.0, 76.3], 1.0, 179.0),
    "test_hfov_deg": Field(list, None, nullable=True, length=2, item=Field(float, min=1.0, max=179.0),
                           help="horizontal FOV range of the test split (null: hfov_deg)"),
    "aspect_jitter": Field(bool, True, help="random aspect ratio in [3/4, 4/3] when the split augments"),
}, check=_check_viewpoints)

_MISALIGN = Section({
    "probability": Field(float, 0.0, min=0.0, max=1.0, help="AVSA-Bin: chance that a sample's audio is rotated"),
    "mode": Field(str, "yaw", choices=["yaw", "3d"], help="yaw: about the vertical; 3d: uniform random rotation"),
    "min_angle_deg": Field(float, 30.0, min=0.0, max=150.0,
                           help="smallest rotation that counts as misaligned (the original counted any rotation, "
                                "even ~0°)"),
})

_COMMON = {
    "name": Field(str, "yt360", choices=["yt360", "ucf101", "hmdb51"]),
    "root": Field(str, help="dataset folder, in the original layout (docs/data.md)"),
    "cache_dir": Field(str, None, nullable=True, help="where the index cache goes (null: <root>/.cache)"),
    "batch_size": Field(int, 32, min=1),
    "video": _VIDEO,
    "color_jitter": Field(bool, True, help="colour jitter of the video when the split augments"),
    "decode_cache_mb": Field(float, 0.0, min=0.0,
                             help="keep whole decoded files in memory, up to this many MB per DataLoader worker "
                                  "(small datasets read for many epochs, e.g. the synthetic demo set; 0: off)"),
    "decode_cache_dir": Field(str, None, nullable=True,
                              help="with decode_cache_mb: also store the decoded files here and memory-map them, so "
                                   "that other processes (the other jobs of the demo suite) do not decode again"),
}

_YT360 = {
    "train_list": Field(str, None, nullable=True, help="ids of the train split (null: <root>/train.txt)"),
    "test_list": Field(str, None, nullable=True, help="ids of the test split (null: <root>/test.txt)"),
    "sampling": Field(str, "video", choices=["video", "clip"],
                      help="one index per video (a random segment of it) or per segment"),
    "train": _split(1, True, True),
    "test": _split(1, False, False),
    "audio": _AUDIO,
    "viewpoints": _VIEWPOINTS,
    "video_placement": Field(str, "centred", choices=["centred", "uniform"],
                             help="video window centred in the audio window, or anywhere inside it (the original)"),
    "rotation_order": Field(str, "correct", choices=["correct", "reference"],
                            help="FOA rotation toward a viewpoint; reference = the original's wrong order"),
    "joint_flip": Field(bool, True, help="mirror video and audio together when the split augments"),
    "volume_jitter": Field(bool, True, help="audio gain in [0.9, 1.1] when the split augments"),
    "temporal_clips": Field(int, 1, min=1, help="AVTS: M moments per sample, K viewpoints each (moment-major)"),
    "misalign": _MISALIGN,
    "segmentation": Field(bool, False, help="also return the 32-class label map of each viewpoint"),
    "augment_on": Field(str, "cpu", choices=["cpu", "gpu"],
                        help="where crops, rotation, jitter and log-mel run: in the DataLoader workers (cpu), or "
                             "batched on the training device after collation (gpu; workers only decode)"),
}

_ACTION_SPLIT = {"mode": Field(str, "clip", choices=["clip", "video"],
                               help="clip: random clips; video: clips_per_video clips evenly spaced (dense test)")}

_ACTION = {
    "fold": Field(int, 1, min=1, max=3, help="official split 1, 2 or 3"),
    "num_classes": Field(int, None, nullable=True, min=1, help="checked against the class list (null: not checked)"),
    "train": _split(1, True, True, **_ACTION_SPLIT),
    "test": _split(1, False, False, **_ACTION_SPLIT),
    "resize": Field(int, 128, min=8, help="test: shorter side resized to this, then centre crop"),
    "crop_scale": Field(list, [0.08, 1.0], length=2, item=Field(float, min=1e-3, max=1.0),
                        help="train: random-resized-crop area range"),
    "flip": Field(bool, True, help="random horizontal flip when the split augments"),
}


def _check(section: dict) -> str | None:
    if section["name"] == "yt360":
        return _check_yt360(section)
    low, high = section["crop_scale"]
    if low > high:
        return f"crop_scale: lower bound {low} above upper bound {high}"
    if section["resize"] < section["video"]["crop_size"]:
        return f"resize: {section['resize']} is smaller than video.crop_size {section['video']['crop_size']}"
    return None


def _check_yt360(section: dict) -> str | None:
    if section["audio"]["clip_duration"] < section["video"]["clip_duration"]:
        return (f"audio: clip_duration {section['audio']['clip_duration']} s is shorter than video.clip_duration "
                f"{section['video']['clip_duration']} s (the video window lies inside the audio window)")
    if section["audio"]["n_fft"] > round(section["audio"]["clip_duration"] * section["audio"]["rate"]):
        return "audio: n_fft is longer than the audio clip"
    return None


SCHEMA = Section(_COMMON, tag="name", variants={"yt360": _YT360, "ucf101": _ACTION, "hmdb51": _ACTION}, check=_check,
                 help="what the data is, where it is, and how samples are drawn and augmented")


_VIDEO_INPUT = ("video.clip_duration", "video.fps", "video.crop_size")
# The dataset keys that change what the encoders see, as opposed to how samples are drawn, augmented or batched: the
# clip lengths, frame rate and crop size, the audio recipe (its rate, STFT, mel bands, scale, normalisation, extra
# channels and the FOA convention of the files) and the original's rotation order and video placement. An evaluation
# inherits them from the pre-training config (evaluation/runner.py); only keys that both dataset kinds have.
INPUT_KEYS: dict[str, tuple[str, ...]] = {
    "yt360": (*_VIDEO_INPUT, "audio.clip_duration", "audio.rate", "audio.format", "audio.n_fft", "audio.hop",
              "audio.n_mels", "audio.stats", "audio.parity", "audio.intensity", "rotation_order", "video_placement"),
    "ucf101": _VIDEO_INPUT,
    "hmdb51": _VIDEO_INPUT,
}


def audio_channels(dataset_cfg: dict) -> int | None:
    """Channels of a crop's audio input (4 FOA log-mels, + 3 with ``audio.intensity``); None: no audio."""
    if dataset_cfg["name"] != "yt360":
        return None
    return AudioFeatures.from_recipe(dataset_cfg["audio"]).channels


# ------------------------------------------------------------------------------------------ registry
DATASETS: dict[str, type[ClipDataset]] = {"yt360": YT360, "ucf101": UCF101, "hmdb51": HMDB51}


def build_dataset(cfg: dict, split: str, seed: int, *, config: str = "CONFIG",
                  overrides: Sequence[str] = ()) -> ClipDataset:
    """The dataset described by the validated ``dataset`` section, for split ``"train"`` or ``"test"``.

    ``config``, ``overrides``: the command line that gave ``cfg``, for the command a missing audio statistics file
    error names (`datasets.audio_stats.require_stats`)."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    if cfg["name"] == "yt360":
        return YT360(cfg, split, seed, config=config, overrides=overrides)
    return DATASETS[cfg["name"]](cfg, split, seed)
