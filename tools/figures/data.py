"""What the figures read: a dataset sample as the dataset makes it (`dataset_sample`), what each view's audio hears
(`view_audio`), a model's localisation map over the sphere (`localization_map`, `ModelEmbedder`), a segmentation run's
predictions, and a run's scalars and checkpoint."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from datasets import build_dataset
from datasets.augment import IMAGENET_MEAN, IMAGENET_STD, normalize_video
from datasets.yt360 import SEGMENTATION_CLASSES
from engine.schema import PRETRAIN_SCHEMA
from evaluation.pretrained import load_benchmark, load_pretrained
from evaluation.schema import EVAL_SCHEMA
from evaluation.segmentation import Segmentation
from utils.ambisonics import foa_power_map, rotate_foa
from utils.audio_features import AudioFeatures
from utils.checkpoint import load_checkpoint
from utils.config import load_config
from utils.errors import ConfigError
from utils.runs import finished_run_directory, latest_checkpoint, read_results, results_path
from utils.spherical import equirect_angles, equirect_to_perspective

# The alignment heads on N (video crop, audio rotated toward the crop) pairs: clips (N, 3, T, h, w) float in [0, 1],
# foa (N, 4, S), azimuth, elevation (N,) radians -> (prediction from the crop, target from the audio), each (N, D).
Embedder = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


# ==================================================================================================== geometry


def localization_map(frames: torch.Tensor, foa: torch.Tensor, embed: Embedder, *, temperature: float = 0.07,
                     step_deg: float = 10.0, fov_deg: float = 75.0, crop_size: int = 32,
                     rotation_order: str = "correct", chunk: int = 96) -> torch.Tensor:
    """How well the video crop toward each grid direction picks out the sound heard from there.

    Every grid direction d gives a pair, the crop toward d and the FOA rotated toward d, embedded by ``embed``. The
    score of d is log p(d | crop d): the pre-training's V2A softmax (cosines / ``temperature``) of the crop's
    prediction over the audio of every grid direction. A crop that shows a sounding object picks out the rotation that
    puts its sound in front and scores high; a crop of empty sky fits many rotations and scores low. (Each pair's own
    cosine would not localise: every pair matches, and the heads are trained to rank, not calibrated across crops.)

    frames (T, 3, H, W) uint8 equirectangular; foa (4, S) ambiX. Returns (R, C) = (180°, 360°) / ``step_deg`` scores
    at the cell centres of `utils.spherical.equirect_angles` (row 0 = top, column 0 = azimuth +180°, as the frame).
    """
    azimuth, elevation = equirect_angles(round(180 / step_deg), round(360 / step_deg))
    grid_az = azimuth[None, :].expand(len(elevation), -1).reshape(-1)
    grid_el = elevation[:, None].expand(-1, len(azimuth)).reshape(-1)
    fov = math.radians(fov_deg)
    predictions, targets = [], []
    for start in range(0, len(grid_az), chunk):
        az, el = grid_az[start:start + chunk], grid_el[start:start + chunk]
        views = equirect_to_perspective(frames, az, el, fov, fov, (crop_size, crop_size))  # (n·T, 3, h, w)
        clips = views.reshape(len(az), frames.shape[0], *views.shape[1:]).transpose(1, 2).float() / 255
        rotated = rotate_foa(foa.expand(len(az), -1, -1), az, el, rotation_order)
        prediction, target = embed(clips, rotated, az, el)
        predictions.append(prediction.float())
        targets.append(target.float())
    logits = F.normalize(torch.cat(predictions), dim=-1) @ F.normalize(torch.cat(targets), dim=-1).T / temperature
    return torch.log_softmax(logits, dim=1).diagonal().reshape(len(elevation), len(azimuth))


FOA_NAMES = ("W", "Y′", "Z′", "X′")  # ACN order, rotated toward a view: X′ its front, Y′ its left, Z′ its up


def view_audio(foa: torch.Tensor) -> dict[str, torch.Tensor]:
    """What differs between the viewpoints' audio. foa (K, 4, S) ambiX, each rotated toward its view.

    ``energy_db`` (K, 4): mean square of W, Y′, Z′, X′ in dB relative to W (a plane wave θ off the view's front gives
    X′ = 20·log10|cos θ|); ``azimuth``, ``elevation`` (K,) radians: direction of the active intensity mean(W·(X′, Y′,
    Z′)) in the view's frame (azimuth positive to the left); ``strength`` (K,): |intensity| / mean(W²), 1 for one
    plane wave, less for several sources or diffuse sound."""
    foa = foa.double()
    power = foa.pow(2).mean(-1).clamp_min(1e-20)  # (K, 4)
    intensity = (foa[:, :1] * foa[:, 1:]).mean(-1)  # (K, 3): Y′, Z′, X′
    y, z, x = intensity.unbind(-1)
    return {"energy_db": (10 * torch.log10(power / power[:, :1])).float(),
            "azimuth": torch.atan2(y, x).float(), "elevation": torch.atan2(z, torch.hypot(x, y)).float(),
            "strength": (intensity.norm(dim=-1) / power[:, 0]).float()}


# ==================================================================================================== a dataset sample


@dataclass
class ViewSample:
    """One sample as the dataset makes it, the first moment's K views. ``frame`` (3, H, W) uint8: the clip's middle
    frame; ``power`` (h, w): FOA beam power over the sphere; ``views``: (K,) ``azimuth``, ``elevation``, ``hfov``,
    ``vfov`` radians (before any flip); ``crops`` (K, 3, h, w) uint8: each view's middle frame; ``foa`` (K, 4, S): the
    FOA each view's audio features are computed from (rotated toward the view, after the sample's flip and volume
    jitter); ``audio`` (K, C, frames, n_mels): those features."""

    frame: torch.Tensor
    power: torch.Tensor
    views: dict[str, torch.Tensor]
    crops: torch.Tensor
    foa: torch.Tensor
    audio: torch.Tensor


class _KeepFoa:
    """Stands in for a dataset's `AudioFeatures` in its `apply`: keeps the FOA it turns into features."""

    def __init__(self, features):
        self.inner, self.foa = features, None

    def features(self, foa: torch.Tensor) -> torch.Tensor:
        self.foa = foa
        return self.inner.features(foa)


def dataset_sample(cfg: dict, split: str, index: int) -> ViewSample:
    """Sample ``index`` of the split through the dataset's own decoding, draws and `apply` (crops of at least 96
    pixels, to be seen)."""
    data = cfg["dataset"]
    data["video"]["crop_size"] = max(data["video"]["crop_size"], 96)
    dataset = build_dataset(data, split, seed=cfg["seed"])
    raw = dataset.decode(index)
    draws = dataset.draw(raw, dataset.generator(index, "transform"))
    dataset.audio_features = kept = _KeepFoa(dataset.audio_features)
    sample = dataset.apply_one(raw, draws)
    num_views = data["viewpoints"]["num"]
    middle = raw["frames"].shape[1] // 2  # frames (M, T, H, W, 3), video (M·K, 3, T, h, w): the same T
    return ViewSample(frame=raw["frames"][0, middle].permute(2, 0, 1), power=foa_power_map(raw["foa"][0], 90, 180),
                      views={name: draws[name][:num_views] for name in ("azimuth", "elevation", "hfov", "vfov")},
                      crops=denormalize(sample["video"][:num_views, :, middle]),
                      foa=kept.foa[:num_views], audio=sample["audio"][:num_views])


def denormalize(frame: torch.Tensor) -> torch.Tensor:
    """(3, H, W) ImageNet-normalised → uint8."""
    mean, std = torch.tensor(IMAGENET_MEAN)[:, None, None], torch.tensor(IMAGENET_STD)[:, None, None]
    return ((frame * std + mean) * 255).round().clamp(0, 255).to(torch.uint8)


# ==================================================================================================== trained model


class ModelEmbedder:
    """The pre-training task's alignment heads (`Embedder`): V2A, g_v2a(v) through ``audio_pred_head`` against a
    through ``audio_head`` with translation networks (each crop translated alone, at its direction and the clip's
    time ``clip_time`` s), else v through ``video_projection`` against a through ``audio_projection``."""

    def __init__(self, model: torch.nn.Module, criterion: torch.nn.Module, features: AudioFeatures,
                 clip_time: float = 0.0):
        self.model, self.criterion = model.eval(), criterion.eval()
        self.audio_features = features  # the dataset's: its statistics file, as training read it
        self.clip_time = clip_time

    @torch.no_grad()
    def __call__(self, clips, foa, azimuth, elevation) -> tuple[torch.Tensor, torch.Tensor]:
        video_emb, audio_emb = self.model(normalize_video(clips), self.audio_features.features(foa))
        if self.criterion.has_translation:
            position = torch.stack([azimuth, elevation, torch.full_like(azimuth, self.clip_time)], dim=1)[:, None]
            audio_pred, _ = self.criterion.predict(video_emb[:, None], audio_emb[:, None], position)
            return self.criterion.audio_pred_head(audio_pred[:, 0]), self.criterion.audio_head(audio_emb)
        return self.criterion.video_projection(video_emb), self.criterion.audio_projection(audio_emb)


def model_localization(cfg: dict, config: str, checkpoint: str, split: str, index: int,
                       step_deg: float) -> tuple[torch.Tensor, torch.Tensor, list[tuple[float, float]]]:
    """The trained model's `localization_map` of sample ``index`` (crops of the config's size and mean field of
    view): the clip's middle frame (3, H, W) uint8, the scores (R, C) and the known source directions
    (`known_sources`). cfg: the pre-training config read from ``config``."""
    pretrained = load_pretrained(cfg, config, checkpoint, with_criterion=True)
    dataset = build_dataset(cfg["dataset"], split, seed=cfg["seed"])
    raw = dataset.decode(index)
    frames = raw["frames"][0].permute(0, 3, 1, 2)
    data = cfg["dataset"]
    fov = sum(data["viewpoints"]["hfov_deg"]) / 2
    embed = ModelEmbedder(pretrained.model, pretrained.criterion, dataset.audio_features, clip_middle(dataset, raw))
    scores = localization_map(frames, raw["foa"][0], embed, temperature=pretrained.criterion.temperature,
                              step_deg=step_deg, fov_deg=fov, crop_size=data["video"]["crop_size"],
                              rotation_order=data["rotation_order"])
    return frames[frames.shape[0] // 2], scores, known_sources(data["root"], dataset, raw)


def clip_middle(dataset, raw: dict) -> float:
    """The first moment's video clip centre (s in the segment): the time the dataset gives the translation networks'
    positions."""
    return float(raw["video_start"][0]) + dataset.cfg["video"]["clip_duration"] / 2


def known_sources(root: str, dataset, raw: dict) -> list[tuple[float, float]]:
    """Ground-truth source directions (radians) of a synthetic scene at the clip's middle frame, from the
    generator's ``tracks.json`` (absent for real data: nothing is marked)."""
    path = os.path.join(root, "tracks.json")
    if not os.path.isfile(path):
        return []
    with open(path, encoding="utf-8") as f:
        tracks = json.load(f)
    video_id, start = dataset.segments[raw["item"]][:2]
    entry = next((e for e in tracks.values() if e["id"] == video_id and e["start"] == start), None)
    if entry is None:
        return []
    middle = clip_middle(dataset, raw)
    frame = min(range(len(entry["times"])), key=lambda i: abs(entry["times"][i] - middle))
    return [(math.radians(o["azimuth_deg"][frame]), math.radians(o["elevation_deg"][frame])) for o in entry["objects"]]


# ==================================================================================================== finished runs


def segmentation_predictions(run_dir: str, samples: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, str]:
    """The first ``samples`` test samples of a finished segmentation evaluation (its run directory, or the eval
    directory of a one-fold evaluation) through its trained benchmark: crops (N, 3, h, w) uint8 (each sample's first
    view, middle frame), truth and prediction (N, h, w) int64, and a title naming the benchmark and its metrics."""
    found = finished_run_directory(run_dir)
    if found is None:
        raise ConfigError(f"{run_dir}: no results.json: not a finished eval-audiovisual-segm.py run directory "
                          f"(<pretrain run>/eval-<benchmark>/fold-01)")
    results = read_results(results_path(found))
    eval_cfg = load_config(os.path.join(found, "config.yaml"), required=("benchmark", "dataset"), schema=EVAL_SCHEMA)
    pretrain_path = results["pretrained"]["config"]
    pretrain_cfg = load_config(pretrain_path, required=("model",), schema=PRETRAIN_SCHEMA)
    bench = eval_cfg["benchmark"]
    pretrained = load_pretrained(pretrain_cfg, pretrain_path, results["pretrained"]["checkpoint"],
                                 scratch=bench["scratch"], translation=bench["use_context"])
    test_set = build_dataset(eval_cfg["dataset"], "test", seed=bench["test_seed"])
    first = test_set[0]
    benchmark = Segmentation(pretrained, bench, first["video"], num_classes=len(SEGMENTATION_CLASSES))
    load_benchmark(benchmark, latest_checkpoint(found))
    benchmark.eval()
    crops, truth, prediction = [], [], []
    with torch.no_grad():
        for index in range(samples):
            sample = first if index == 0 else test_set[index]
            batch = {k: v[None] for k, v in sample.items() if isinstance(v, torch.Tensor)}
            logits = benchmark.segment(batch)
            crops.append(denormalize(sample["video"][0, :, sample["video"].shape[2] // 2]))
            truth.append(sample["segmentation"][0])
            prediction.append(logits[0].argmax(0))
    title = f"{bench['name']}\n" + ", ".join(f"{k} {v:.1f}" for k, v in results["metrics"].items())
    return torch.stack(crops), torch.stack(truth), torch.stack(prediction), title


def read_scalars(run_dir: str) -> dict[str, list[tuple[int, float]]]:
    """Every scalar of ``run_dir/tensorboard`` (or ``run_dir`` itself): tag -> [(step, value)] in step order."""
    folder = os.path.join(run_dir, "tensorboard")
    events = EventAccumulator(folder if os.path.isdir(folder) else run_dir, size_guidance={"scalars": 0})
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def curve_scales(run_dir: str) -> tuple[float | None, float | None]:
    """(steps per epoch, AVSA-Acc's chance in % = 100 / the number of viewpoints) from the run's checkpoint, each
    None when it does not say (or there is no checkpoint)."""
    steps_per_epoch = chance = None
    checkpoint = latest_checkpoint(run_dir)
    if os.path.isfile(checkpoint):
        state = load_checkpoint(checkpoint, mmap=True)
        if state.get("epoch"):
            steps_per_epoch = (state["step"] - state.get("epoch_step", 0)) / state["epoch"]
        views = state.get("config", {}).get("dataset", {}).get("viewpoints", {}).get("num")
        chance = 100.0 / views if views else None
    return steps_per_epoch, chance
