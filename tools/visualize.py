#!/usr/bin/env python
"""Pictures researchers want to see: the method, a 360° sample, a sound-source localisation map, segmentations, curves.

    python tools/visualize.py method CONFIG [--split test] [--index 0] [--set KEY=VALUE] --out method.png
    python tools/visualize.py sample CONFIG [--split test] [--index 0] [--set KEY=VALUE] --out sample.png
    python tools/visualize.py localize CONFIG --checkpoint RUN/checkpoint.pth [--split test] [--index 0] --out loc.png
    python tools/visualize.py segmentation EVAL_RUN_DIR [--samples 4] --out segmentation.png
    python tools/visualize.py curves RUN_DIR --out curves.png

Every figure has a fixed size (``FIGURE_SIZE`` at ``DPI``), so PNGs are comparable across runs. What each shows: the
README ("Visualisation").
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402
from matplotlib.patches import FancyBboxPatch, Patch  # noqa: E402
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

from datasets import build_dataset  # noqa: E402
from datasets.augment import IMAGENET_MEAN, IMAGENET_STD, normalize_video  # noqa: E402
from datasets.yt360 import SEGMENTATION_CLASSES  # noqa: E402
from engine.schema import PRETRAIN_SCHEMA  # noqa: E402
from evaluation.pretrained import load_benchmark, load_pretrained  # noqa: E402
from evaluation.schema import EVAL_SCHEMA, load_any_config  # noqa: E402
from evaluation.segmentation import Segmentation  # noqa: E402
from utils.ambisonics import foa_power_map, rotate_foa  # noqa: E402
from utils.audio_features import AudioFeatures  # noqa: E402
from utils.checkpoint import load_checkpoint  # noqa: E402
from utils.cli import add_overrides, run_main  # noqa: E402
from utils.config import load_config  # noqa: E402
from utils.errors import ConfigError  # noqa: E402
from utils.runs import finished_run_directory, latest_checkpoint, read_results, results_path  # noqa: E402
from utils.spherical import (  # noqa: E402
    equirect_angles, equirect_pixel, equirect_to_perspective, perspective_directions,
)

FIGURE_SIZE = {"method": (16.0, 6.5), "sample": (12.0, 11.0), "localize": (12.0, 9.0), "segmentation": (11.0, 9.0),
               "curves": (15.0, 8.0)}
DPI = 100

# A score for N (video crop, audio rotated toward the crop) pairs: clips (N, 3, T, h, w) float in [0, 1],
# foa (N, 4, S), azimuth, elevation (N,) radians -> (N,) scores (higher = better match).
Scorer = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


# ==================================================================================================== geometry


def viewpoint_outline(azimuth: float, elevation: float, hfov: float, vfov: float, width: int, height: int,
                      samples: int = 24) -> tuple[list[float], list[float]]:
    """The border of a perspective view drawn on the equirectangular frame: (x, y) pixel lists, NaN where the
    outline crosses the ±180° seam (so matplotlib does not draw a line across the whole frame)."""
    az, el = perspective_directions(*(torch.tensor([v], dtype=torch.float32) for v in (azimuth, elevation, hfov, vfov)),
                                    (samples, samples))
    az, el = az[0], el[0]
    border = [(0, c) for c in range(samples)] + [(r, samples - 1) for r in range(samples)] + \
             [(samples - 1, c) for c in reversed(range(samples))] + [(r, 0) for r in reversed(range(samples))]
    xs, ys = [], []
    for r, c in border:
        x, y = equirect_pixel(az[r, c], el[r, c], height, width)
        if xs and not math.isnan(xs[-1]) and abs(float(x) - xs[-1]) > width / 2:
            xs.append(math.nan)
            ys.append(math.nan)
        xs.append(float(x))
        ys.append(float(y))
    return xs, ys


def localization_map(frames: torch.Tensor, foa: torch.Tensor, score: Scorer, *, step_deg: float = 10.0,
                     fov_deg: float = 75.0, crop_size: int = 32, rotation_order: str = "correct",
                     chunk: int = 96) -> torch.Tensor:
    """Alignment score of every grid direction: the video crop there against the FOA rotated toward it.

    frames (T, 3, H, W) uint8 equirectangular; foa (4, S) ambiX. Returns (R, C) = (180°, 360°) / ``step_deg`` scores
    at the cell centres of `utils.spherical.equirect_angles` (row 0 = top, column 0 = azimuth +180°, as the frame).
    """
    azimuth, elevation = equirect_angles(round(180 / step_deg), round(360 / step_deg))
    grid_az = azimuth[None, :].expand(len(elevation), -1).reshape(-1)
    grid_el = elevation[:, None].expand(-1, len(azimuth)).reshape(-1)
    fov = math.radians(fov_deg)
    scores = []
    for start in range(0, len(grid_az), chunk):
        az, el = grid_az[start:start + chunk], grid_el[start:start + chunk]
        views = equirect_to_perspective(frames, az, el, fov, fov, (crop_size, crop_size))  # (n·T, 3, h, w)
        clips = views.reshape(len(az), frames.shape[0], *views.shape[1:]).transpose(1, 2).float() / 255
        rotated = rotate_foa(foa.expand(len(az), -1, -1), az, el, rotation_order)
        scores.append(score(clips, rotated, az, el).float())
    return torch.cat(scores).reshape(len(elevation), len(azimuth))


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
                      crops=_denormalize(sample["video"][:num_views, :, middle]),
                      foa=kept.foa[:num_views], audio=sample["audio"][:num_views])


# ==================================================================================================== trained model


class ModelScorer:
    """The pre-training task's alignment score: cosine similarity of the criterion's projection heads between the
    video crop and the audio rotated toward it (V2A: g_v2a(v) through ``audio_pred_head`` vs a through
    ``audio_head`` with translation networks, else v through ``video_projection`` vs a through ``audio_projection``)."""

    def __init__(self, model: torch.nn.Module, criterion: torch.nn.Module, features: AudioFeatures):
        self.model, self.criterion = model.eval(), criterion.eval()
        self.audio_features = features  # the dataset's: its statistics file, as training read it

    @torch.no_grad()
    def __call__(self, clips, foa, azimuth, elevation) -> torch.Tensor:
        video_emb, audio_emb = self.model(normalize_video(clips), self.audio_features.features(foa))
        if self.criterion.has_translation:
            position = torch.stack([azimuth, elevation, torch.zeros_like(azimuth)], dim=1)[:, None]
            audio_pred, _ = self.criterion.predict(video_emb[:, None], audio_emb[:, None], position)
            prediction = self.criterion.audio_pred_head(audio_pred[:, 0])
            target = self.criterion.audio_head(audio_emb)
        else:
            prediction = self.criterion.video_projection(video_emb)
            target = self.criterion.audio_projection(audio_emb)
        return F.cosine_similarity(prediction, target, dim=-1)


# ==================================================================================================== figures


def _figure(mode: str):
    return plt.figure(figsize=FIGURE_SIZE[mode], dpi=DPI)


def _save(fig, path: str) -> str:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def _frame_image(frame: torch.Tensor):
    """(3, H, W) uint8 → (H, W, 3) array for imshow."""
    return frame.permute(1, 2, 0).numpy()


_AZIMUTH_TICKS = ["180°", "90°", "0°", "−90°", "−180°"]
_VIEW_COLOURS = plt.get_cmap("tab10")
_CHANNEL_COLOURS = ("0.55", "tab:purple", "tab:olive", "tab:cyan")  # W, Y′, Z′, X′
_ENERGY_FLOOR_DB = -30.0


def _frame_axes(ax, frame: torch.Tensor, power: torch.Tensor, views: dict[str, torch.Tensor],
                fontsize: float = 12) -> None:
    """The equirectangular frame, the FOA power (dB) over it and each view's outline and number."""
    height, width = frame.shape[1:]
    ax.imshow(_frame_image(frame), extent=(0, width, height, 0))
    decibels = 10 * torch.log10(power / power.max() + 1e-6)
    ax.imshow(decibels.clamp_min(-12).numpy(), extent=(0, width, height, 0), cmap="inferno", alpha=0.45)
    for k in range(len(views["azimuth"])):
        xs, ys = viewpoint_outline(*(float(views[a][k]) for a in ("azimuth", "elevation", "hfov", "vfov")),
                                   width, height)
        ax.plot(xs, ys, color=_VIEW_COLOURS(k), linewidth=2)
        x, y = equirect_pixel(views["azimuth"][k], views["elevation"][k], height, width)
        ax.text(float(x), float(y), str(k), color=_VIEW_COLOURS(k), ha="center", va="center", fontsize=fontsize,
                weight="bold")
    ax.set_xticks([0, width / 4, width / 2, 3 * width / 4, width], _AZIMUTH_TICKS, fontsize=fontsize - 3)
    ax.set_yticks([0, height / 2, height], ["90°", "0°", "−90°"], fontsize=fontsize - 3)


def _image_axes(ax, image: torch.Tensor, label: str, colour=None) -> None:
    """A uint8 (3, h, w) image without ticks, framed in ``colour``; ``label`` names the axes (tests find it)."""
    ax.imshow(_frame_image(image))
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_label(label)
    if colour is not None:
        for spine in ax.spines.values():
            spine.set_edgecolor(colour)
            spine.set_linewidth(2.5)


def _energy_axes(ax, energy_db: torch.Tensor, label: str, fontsize: float = 8) -> None:
    """Bars of W, Y′, Z′, X′ in dB re W (floor ``_ENERGY_FLOOR_DB``)."""
    values = energy_db.clamp_min(_ENERGY_FLOOR_DB).tolist()
    ax.bar(range(4), [v - _ENERGY_FLOOR_DB for v in values], bottom=_ENERGY_FLOOR_DB, color=_CHANNEL_COLOURS)
    ax.set_ylim(_ENERGY_FLOOR_DB, 3)
    ax.set_xticks(range(4), FOA_NAMES, fontsize=fontsize)
    ax.tick_params(axis="y", labelsize=fontsize - 1)
    ax.axhline(0, color="0.3", linewidth=0.6)
    ax.set_label(label)


def _compass_axes(ax, azimuth: float, elevation: float, strength: float, hfov: float, colour, label: str) -> None:
    """Top view of a viewpoint (front up, left to the left): its horizontal field of view and an arrow toward
    the intensity direction, as long as the intensity's strength (1 = one plane wave)."""
    ax.set_theta_zero_location("N")
    ax.set_theta_direction(1)  # counter-clockwise: positive azimuth to the left, as the project's convention
    wedge = torch.linspace(-hfov / 2, hfov / 2, 32)
    ax.fill_between(wedge.numpy(), 0, 1, color=colour, alpha=0.15, linewidth=0)
    radius = min(max(strength, 0.0), 1.0)
    ax.plot([azimuth, azimuth], [0, radius], color=colour, linewidth=2.5, solid_capstyle="round")
    ax.plot([azimuth], [radius], marker="o", color=colour, markersize=5)
    ax.set_ylim(0, 1)
    ax.set_yticks([])
    ax.set_xticks([0, math.pi / 2, math.pi, 3 * math.pi / 2], ["front", "left", "back", "right"], fontsize=7)
    ax.set_title(f"sound from az {math.degrees(azimuth):+.0f}°, el {math.degrees(elevation):+.0f}°", fontsize=8)
    ax.set_label(label)


def _view_title(views: dict[str, torch.Tensor], k: int) -> str:
    return f"view {k}: az {math.degrees(views['azimuth'][k]):.0f}° el {math.degrees(views['elevation'][k]):.0f}°"


def plot_sample(path: str, sample: ViewSample) -> str:
    """The frame with its viewpoints and FOA power, each view's crop, and what its audio hears: the energy of the FOA
    rotated toward the view (`view_audio`) and the intensity direction in the view's frame."""
    num_views = sample.crops.shape[0]
    audio = view_audio(sample.foa)
    fig = _figure("sample")
    grid = fig.add_gridspec(4, num_views, height_ratios=[2.2, 1, 0.8, 1], hspace=0.45)
    ax = fig.add_subplot(grid[0, :])
    _frame_axes(ax, sample.frame, sample.power, sample.views)
    ax.set_title("360° frame, viewpoints and FOA power (dB, hypercardioid beam)")
    for k in range(num_views):
        colour = _VIEW_COLOURS(k)
        crop_ax = fig.add_subplot(grid[1, k])
        _image_axes(crop_ax, sample.crops[k], f"crop {k}", colour)
        crop_ax.set_title(_view_title(sample.views, k), fontsize=9, color=colour)
        energy_ax = fig.add_subplot(grid[2, k])
        _energy_axes(energy_ax, audio["energy_db"][k], f"energy {k}")
        energy_ax.set_title("FOA toward the view, dB re W", fontsize=8)
        _compass_axes(fig.add_subplot(grid[3, k], projection="polar"), float(audio["azimuth"][k]),
                      float(audio["elevation"][k]), float(audio["strength"][k]), float(sample.views["hfov"][k]),
                      colour, f"intensity {k}")
    return _save(fig, path)


def _box(board, x: float, y: float, width: float, height: float, text: str, colour: str, fontsize: float = 9):
    board.add_patch(FancyBboxPatch((x, y), width, height, boxstyle="round,pad=0.004,rounding_size=0.01",
                                   facecolor=colour, edgecolor="0.25", linewidth=1.2))
    board.text(x + width / 2, y + height / 2, text, ha="center", va="center", fontsize=fontsize, wrap=True)


def _arrow(board, start: tuple[float, float], end: tuple[float, float], text: str = "", colour="0.2",
           style: str = "-|>", offset: float = 0.012, fontsize: float = 8) -> None:
    board.annotate("", xy=end, xytext=start, arrowprops={"arrowstyle": style, "color": colour, "linewidth": 1.4})
    if text:
        board.text((start[0] + end[0]) / 2, (start[1] + end[1]) / 2 + offset, text, ha="center", va="bottom",
                   fontsize=fontsize)


POSITIVE, HARD, EASY, NOT_A_CANDIDATE = 3, 2, 1, 0
_PAIR_COLOURS = ListedColormap(["white", "0.82", "tab:orange", "tab:green"])


def contrastive_pairs(num_views: int, other_videos: int, negatives: str) -> torch.Tensor:
    """(K, K·(1 + other_videos)) role of each target for each prediction of one video (AVSA, Eq. (8)): the same
    viewpoint ``POSITIVE``, the video's other viewpoints ``HARD`` negatives, the other videos' viewpoints ``EASY``
    negatives: all of them (``negatives: paper``) or the same viewpoint only (``reference``, the released code)."""
    roles = torch.full((num_views, num_views * (1 + other_videos)), EASY if negatives == "paper" else NOT_A_CANDIDATE)
    same = torch.arange(num_views)
    roles[:, :num_views] = HARD
    roles[same, same] = POSITIVE
    if negatives != "paper":
        for video in range(1, 1 + other_videos):
            roles[same, video * num_views + same] = EASY
    return roles


def plot_method(path: str, sample: ViewSample, cfg: dict) -> str:
    """AVSA pre-training on one real sample: its frame and K viewpoints, each view's crop and FOA rotated toward it,
    the encoders, the translation networks over the K viewpoints, and the contrastive pairs. cfg: the pre-training
    config, whose encoders, translation networks and negatives are named."""
    num_views = sample.crops.shape[0]
    fig = _figure("method")
    aspect = FIGURE_SIZE["method"][0] / FIGURE_SIZE["method"][1]  # figure-fraction height of a square per width
    board = fig.add_axes((0, 0, 1, 1))
    board.set_xlim(0, 1)
    board.set_ylim(0, 1)
    board.set_axis_off()
    board.set_label("board")
    for x, text in ((0.14, "① 360° video + FOA"), (0.43, "② K viewpoints: crop, FOA rotated toward it"),
                    (0.625, "③ encoders"), (0.745, "④ translation"), (0.905, "⑤ contrastive pairs")):
        board.text(x, 0.94, text, ha="center", va="center", fontsize=12, weight="bold")

    frame_ax = fig.add_axes((0.035, 0.37, 0.21, 0.21 * aspect / 2))
    _frame_axes(frame_ax, sample.frame, sample.power, sample.views, fontsize=10)
    board.text(0.14, 0.31, f"equirectangular frame, FOA power over the\nsphere shaded; K = {num_views} viewpoints "
               "drawn per\nsample (azimuth, elevation, field of view)", ha="center", va="top", fontsize=9)

    # ② one column per viewpoint: its crop above, the energy of the FOA rotated toward it below
    left, span = 0.295, 0.27
    step = span / num_views
    size = 0.84 * step
    row_h = size * aspect
    video_y, audio_y = 0.62, 0.24
    audio = view_audio(sample.foa)
    for k in range(num_views):
        colour, x = _VIEW_COLOURS(k), left + k * step
        crop_ax = fig.add_axes((x, video_y, size, row_h))
        _image_axes(crop_ax, sample.crops[k], f"crop {k}", colour)
        crop_ax.set_title(f"view {k}\naz {math.degrees(sample.views['azimuth'][k]):.0f}°, "
                          f"el {math.degrees(sample.views['elevation'][k]):.0f}°", fontsize=8, color=colour)
        energy_ax = fig.add_axes((x + 0.014, audio_y, size - 0.014, 0.8 * row_h))
        _energy_axes(energy_ax, audio["energy_db"][k], f"energy {k}", fontsize=7)
        energy_ax.set_title(f"view {k}: sound\nfrom {math.degrees(audio['azimuth'][k]):+.0f}° az", fontsize=8,
                            color=colour)
    board.text(left + span / 2, video_y + row_h + 0.085, "perspective crop of each viewpoint (a video clip)",
               ha="center", fontsize=9)
    _arrow(board, (0.2, 0.37 + 0.21 * aspect / 2 + 0.01), (left - 0.01, video_y + row_h / 2), "crop")
    _arrow(board, (0.2, 0.36), (left - 0.01, audio_y + 0.4 * row_h), "rotate", offset=-0.045)
    board.text(left + span / 2, audio_y - 0.05,
               "FOA rotated toward each viewpoint (X′ its front, Y′ its left, Z′ its up):\nenergy of W, Y′, Z′, X′ "
               "in dB re W. The audio encoder's input: log-mels of W, Y′, Z′, X′"
               + (" + intensity vector" if cfg["dataset"]["audio"]["intensity"] else ""),
               ha="center", va="top", fontsize=8)

    # ③ encoders, ④ translation networks
    model, loss = cfg["model"], cfg["loss"]
    encoder_x, encoder_w = 0.59, 0.075
    for y, name, symbol, part, colour in ((video_y, "video", "v", model["video"], "#cfe2f3"),
                                          (audio_y, "audio", "a", model["audio"], "#fce5cd")):
        _box(board, encoder_x, y, encoder_w, row_h, f"{name} encoder\n$f_{symbol}$: {part['arch']}-{part['depth']}"
             f"\nwidth {part['width']}", colour)
        _arrow(board, (left + span + 0.004, y + row_h / 2), (encoder_x - 0.004, y + row_h / 2))
    board.text(encoder_x + encoder_w / 2, (video_y + audio_y + row_h) / 2, "shared by\nthe K views", ha="center",
               va="center", fontsize=8, style="italic")
    translation = loss.get("translation") or {"kind": "none"}
    trans_x, trans_w = 0.705, 0.09
    if translation["kind"] == "none":
        text = "none\n(loss.translation.kind)\n\n$v_k$ and $a_k$\nare contrasted\ndirectly"
    else:
        depth = f", depth {translation['depth']}" if "depth" in translation else ""
        text = (f"{translation['kind']}{depth}\nover the K viewpoints,\neach with its position\n"
                r"$(az_k, el_k)$" "\n\n"
                r"$g_{v2a}(v_1 \ldots v_K) \to \hat{a}_k$" "\neach view's audio\npredicted from the\nK views' video\n\n"
                r"$g_{a2v}(a_1 \ldots a_K) \to \hat{v}_k$" "\nits video from the\nK views' audio")
    _box(board, trans_x, audio_y, trans_w, video_y + row_h - audio_y, text, "#d9ead3", fontsize=8.5)
    for y, tokens in ((video_y, r"$v_1 \ldots v_K$"), (audio_y, r"$a_1 \ldots a_K$")):
        _arrow(board, (encoder_x + encoder_w + 0.004, y + row_h / 2), (trans_x - 0.004, y + row_h / 2), tokens)

    # ⑤ the candidates of each prediction
    other_videos = 2
    roles = contrastive_pairs(num_views, other_videos, loss.get("negatives", "paper"))
    pairs_w = 0.165
    pairs_ax = fig.add_axes((0.825, 0.47, pairs_w, pairs_w * aspect * num_views / roles.shape[1]))
    pairs_ax.imshow(roles.numpy(), cmap=_PAIR_COLOURS, vmin=0, vmax=len(_PAIR_COLOURS.colors) - 1)
    pairs_ax.set_xticks([v * num_views + (num_views - 1) / 2 for v in range(1 + other_videos)],
                        ["this video", "other video", "other video"], fontsize=8)
    pairs_ax.set_yticks(range(num_views), [rf"$\hat{{a}}_{k}$" for k in range(num_views)], fontsize=9)
    pairs_ax.set_xticks([x - 0.5 for x in range(1, roles.shape[1])], minor=True)
    pairs_ax.set_yticks([y - 0.5 for y in range(1, num_views)], minor=True)
    pairs_ax.grid(which="minor", color="white", linewidth=1.5)
    pairs_ax.tick_params(which="minor", length=0)
    pairs_ax.set_label("pairs")
    pairs_ax.set_title(r"targets $a_j$, one per viewpoint", fontsize=9)
    _arrow(board, (trans_x + trans_w + 0.004, 0.51), (0.8, 0.51))
    legend = [Patch(facecolor=_PAIR_COLOURS(POSITIVE), label="positive: the same viewpoint"),
              Patch(facecolor=_PAIR_COLOURS(HARD), label="hard negatives: the other\nviewpoints of the same video"),
              Patch(facecolor=_PAIR_COLOURS(EASY), label="easy negatives: viewpoints\nof the other videos")]
    pairs_ax.legend(handles=legend, loc="upper center", bbox_to_anchor=(0.5, -0.45), fontsize=8, frameon=False)
    board.text(0.905, 0.82, f"InfoNCE (τ = {loss['temperature']:g}) over each row;\n"
               r"both directions: $\hat{a}_k$ vs $a_j$ and $\hat{v}_k$ vs $v_j$", ha="center", va="top", fontsize=8.5)
    return _save(fig, path)


def plot_localization(path: str, frame: torch.Tensor, scores: torch.Tensor, title: str,
                      sources: Sequence[tuple[float, float]] = ()) -> str:
    """frame (3, H, W) uint8; scores (R, C) at the cell centres of `equirect_angles`; sources: known (azimuth,
    elevation) radians to mark."""
    height, width = frame.shape[1:]
    fig = _figure("localize")
    ax_frame, ax_map = fig.subplots(2, 1)
    for ax in (ax_frame, ax_map):
        ax.imshow(_frame_image(frame), extent=(0, width, height, 0))
        ax.set_xticks([0, width / 4, width / 2, 3 * width / 4, width], ["180°", "90°", "0°", "−90°", "−180°"])
        ax.set_yticks([0, height / 2, height], ["90°", "0°", "−90°"])
    image = ax_map.imshow(scores.numpy(), extent=(0, width, height, 0), cmap="jet", alpha=0.55,
                          interpolation="bilinear")
    fig.colorbar(image, ax=ax_map, fraction=0.025, label="alignment score")
    row, col = divmod(int(scores.argmax()), scores.shape[1])
    azimuth, elevation = equirect_angles(*scores.shape)
    x, y = equirect_pixel(azimuth[col], elevation[row], height, width)
    ax_map.plot([float(x)], [float(y)], marker="+", markersize=18, color="white", mew=3)
    for az, el in sources:
        sx, sy = equirect_pixel(az, el, height, width)
        ax_map.plot([float(sx)], [float(sy)], marker="o", markersize=14, mfc="none", color="lime", mew=2)
    ax_frame.set_title("360° frame")
    ax_map.set_title(f"{title}; maximum (+) at az {math.degrees(azimuth[col]):.0f}°, "
                     f"el {math.degrees(elevation[row]):.0f}°")
    return _save(fig, path)


IGNORE_NAME = "not labelled (255)"


def segmentation_colours(num_classes: int) -> ListedColormap:
    """256 colours: a distinct one per class (tab20, then tab20b), black for the rest (the ignore label 255)."""
    palette = [*plt.get_cmap("tab20").colors, *plt.get_cmap("tab20b").colors]
    if num_classes > len(palette):
        raise ValueError(f"{num_classes} classes: at most {len(palette)} have distinct colours")
    return ListedColormap([*palette[:num_classes], *[(0.0, 0.0, 0.0)] * (256 - num_classes)])


def plot_segmentation(path: str, crops: torch.Tensor, truth: torch.Tensor, prediction: torch.Tensor,
                      names: Sequence[str], title: str = "") -> str:
    """crops (N, 3, h, w) uint8, truth and prediction (N, h, w) int64 (255 = ignore); names: one per class. The
    legend names the classes present in the truth or the prediction."""
    cmap = segmentation_colours(len(names))
    fig = _figure("segmentation")
    axes = fig.subplots(len(crops), 3, squeeze=False)
    for i in range(len(crops)):
        panels = ((crops[i], "crop"), (truth[i], "ground truth"), (prediction[i], "prediction"))
        for j, (image, name) in enumerate(panels):
            ax = axes[i, j]
            if image.dim() == 3:
                ax.imshow(_frame_image(image))
            else:
                ax.imshow(image.numpy(), cmap=cmap, vmin=0, vmax=255, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(name)
    present = torch.cat([truth.unique(), prediction.unique()]).unique().tolist()
    handles = [Patch(facecolor=cmap(c), edgecolor="0.5", label=names[c] if c < len(names) else IGNORE_NAME)
               for c in present]
    fig.subplots_adjust(right=0.78)
    fig.legend(handles=handles, loc="center left", bbox_to_anchor=(0.78, 0.5), fontsize=9, title="classes",
               frameon=False)
    fig.suptitle(title)
    return _save(fig, path)


def read_scalars(run_dir: str) -> dict[str, list[tuple[int, float]]]:
    """Every scalar of ``run_dir/tensorboard`` (or ``run_dir`` itself): tag -> [(step, value)] in step order."""
    folder = os.path.join(run_dir, "tensorboard")
    events = EventAccumulator(folder if os.path.isdir(folder) else run_dir, size_guidance={"scalars": 0})
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def _curve_label(tag: str) -> str:
    """``test/AVSA-Acc/V2A`` → ``test V2A``, ``train-epoch/loss`` → ``train (epoch mean)``: the panel names the
    metric."""
    split, _, rest = tag.partition("/")
    direction = rest.split("/", 1)[1] if "/" in rest else ""
    return " ".join(filter(None, ({"train-epoch": "train (epoch mean)", "train": "train (step)"}.get(split, split),
                                  direction)))


def curve_panels(tags: Sequence[str]) -> list[tuple[str, str, list[str]]]:
    """(title, y label, tags) of each panel of `plot_curves`: one per accuracy of the test or epoch means
    (``AVSA-Acc``, ``AVC-Acc``, ``Acc@1``…, both directions in one panel), then the loss, the learning rate, the
    throughput and the data wait."""
    def panel(title, ylabel, wanted):
        chosen = sorted(t for t in tags if wanted(t))
        return [(title, ylabel, chosen)] if chosen else []

    accuracies = sorted({t.split("/")[1] for t in tags if not t.startswith("train/") and "acc" in t.lower()})
    panels = [p for name in accuracies
              for p in panel(name, f"{name} (%)", lambda t, n=name: not t.startswith("train/") and
                             t.split("/")[1] == n)]
    return panels + [*panel("loss", "loss", lambda t: t.rsplit("/", 1)[-1] == "loss"),
                     *panel("learning rate", "learning rate", lambda t: t == "train/lr"),
                     *panel("throughput", "clips / s", lambda t: t == "train/clips_per_s"),
                     *panel("data wait", "fraction of the step", lambda t: t == "train/data_wait_fraction")]


def plot_curves(path: str, scalars: dict[str, list[tuple[int, float]]], title: str = "", *,
                steps_per_epoch: float | None = None, chance: float | None = None) -> str:
    """`curve_panels` against epochs: per-step ``train/`` tags at step / ``steps_per_epoch`` (default: estimated from
    the last step and epoch logged), per-epoch ``test/`` (solid) and ``train-epoch/`` (dashed) tags at their epoch.
    chance: AVSA-Acc of a guess (%), a dotted line. Legends stand beside their axes, off the data."""
    steps = [s for tag, values in scalars.items() if tag.startswith("train/") for s, _ in values]
    epochs = [s for tag, values in scalars.items() if not tag.startswith("train/") for s, _ in values]
    if steps_per_epoch is None:
        steps_per_epoch = max(steps) / max(epochs) if steps and epochs else 1.0
    panels = curve_panels(list(scalars))
    fig = _figure("curves")
    fig.set_layout_engine("constrained")
    columns = 3
    axes = fig.subplots(max(1, math.ceil(len(panels) / columns)), columns, squeeze=False).reshape(-1)
    for ax, (name, ylabel, tags) in zip(axes, panels):
        colours: dict[str, str] = {}  # one per direction (V2A, A2V), else one per split (test, train…)
        for tag in tags:
            per_step = tag.startswith("train/")
            parts = tag.split("/")
            colour = colours.setdefault(parts[2] if len(parts) > 2 else parts[0], f"C{len(colours) % 10}")
            ax.plot([s / steps_per_epoch if per_step else s for s, _ in scalars[tag]], [v for _, v in scalars[tag]],
                    label=_curve_label(tag), color=colour, linestyle="--" if tag.startswith("train-epoch/") else "-",
                    marker=None if per_step else "o", markersize=4, linewidth=1 if per_step else 1.8)
        if chance is not None and name == "AVSA-Acc":
            ax.axhline(chance, color="0.4", linestyle=":", linewidth=1.2, label=f"chance ({chance:.0f} %)")
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        if len(ax.lines) > 1:
            ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    for ax in axes[len(panels):]:
        ax.remove()
    fig.suptitle(title)
    return _save(fig, path)


# ==================================================================================================== commands


def cmd_sample(args) -> str:
    """Sample ``--index`` of the split as the dataset makes it (`dataset_sample`)."""
    cfg = load_any_config(args.config, args.overrides, required=("dataset",))
    return plot_sample(args.out, dataset_sample(cfg, args.split, args.index))


def cmd_method(args) -> str:
    """The method on sample ``--index`` of the split (`dataset_sample`) with the config's model and loss."""
    cfg = load_config(args.config, args.overrides, required=("dataset", "model", "loss"), schema=PRETRAIN_SCHEMA)
    return plot_method(args.out, dataset_sample(cfg, args.split, args.index), cfg)


def cmd_localize(args) -> str:
    cfg = load_config(args.config, args.overrides, required=("dataset", "model", "loss"), schema=PRETRAIN_SCHEMA)
    pretrained = load_pretrained(cfg, args.config, args.checkpoint, with_criterion=True)
    dataset = build_dataset(cfg["dataset"], args.split, seed=cfg["seed"])
    raw = dataset.decode(args.index)
    frames = raw["frames"][0].permute(0, 3, 1, 2)
    data = cfg["dataset"]
    fov = sum(data["viewpoints"]["hfov_deg"]) / 2
    scorer = ModelScorer(pretrained.model, pretrained.criterion, dataset.audio_features)
    scores = localization_map(frames, raw["foa"][0], scorer, step_deg=args.step, fov_deg=fov,
                              crop_size=data["video"]["crop_size"], rotation_order=data["rotation_order"])
    sources = _known_sources(data["root"], dataset, raw)
    title = f"alignment score of {cfg['model']['name']} ({cfg['loss']['name']})"
    return plot_localization(args.out, frames[frames.shape[0] // 2], scores, title, sources)


def _known_sources(root: str, dataset, raw: dict) -> list[tuple[float, float]]:
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
    middle = float(raw["video_start"][0]) + dataset.cfg["video"]["clip_duration"] / 2
    frame = min(range(len(entry["times"])), key=lambda i: abs(entry["times"][i] - middle))
    return [(math.radians(o["azimuth_deg"][frame]), math.radians(o["elevation_deg"][frame])) for o in entry["objects"]]


def cmd_segmentation(args) -> str:
    run_dir = finished_run_directory(args.run_dir)  # the run directory, or the eval directory of a one-fold evaluation
    if run_dir is None:
        raise ConfigError(f"{args.run_dir}: no results.json: not a finished eval-audiovisual-segm.py run directory "
                          f"(<pretrain run>/eval-<benchmark>/fold-01)")
    results = read_results(results_path(run_dir))
    eval_cfg = load_config(os.path.join(run_dir, "config.yaml"), required=("benchmark", "dataset"), schema=EVAL_SCHEMA)
    pretrain_path = results["pretrained"]["config"]
    pretrain_cfg = load_config(pretrain_path, required=("model",), schema=PRETRAIN_SCHEMA)
    bench = eval_cfg["benchmark"]
    pretrained = load_pretrained(pretrain_cfg, pretrain_path, results["pretrained"]["checkpoint"],
                                 scratch=bench["scratch"], translation=bench["use_context"])
    test_set = build_dataset(eval_cfg["dataset"], "test", seed=bench["test_seed"])
    first = test_set[0]
    benchmark = Segmentation(pretrained, bench, first["video"], num_classes=len(SEGMENTATION_CLASSES))
    load_benchmark(benchmark, latest_checkpoint(run_dir))
    benchmark.eval()
    crops, truth, prediction = [], [], []
    with torch.no_grad():
        for index in range(args.samples):
            sample = first if index == 0 else test_set[index]
            batch = {k: v[None] for k, v in sample.items() if isinstance(v, torch.Tensor)}
            logits = benchmark.segment(batch)
            crops.append(_denormalize(sample["video"][0, :, sample["video"].shape[2] // 2]))
            truth.append(sample["segmentation"][0])
            prediction.append(logits[0].argmax(0))
    title = f"{bench['name']}\n" + ", ".join(f"{k} {v:.1f}" for k, v in results["metrics"].items())
    return plot_segmentation(args.out, torch.stack(crops), torch.stack(truth), torch.stack(prediction),
                             [name for name, _ in SEGMENTATION_CLASSES], title)


def _denormalize(frame: torch.Tensor) -> torch.Tensor:
    """(3, H, W) ImageNet-normalised → uint8."""
    mean, std = torch.tensor(IMAGENET_MEAN)[:, None, None], torch.tensor(IMAGENET_STD)[:, None, None]
    return ((frame * std + mean) * 255).round().clamp(0, 255).to(torch.uint8)


def cmd_curves(args) -> str:
    """Steps per epoch and the number of viewpoints (AVSA-Acc's chance is 1/K) from the run's checkpoint, if any."""
    steps_per_epoch = chance = None
    checkpoint = latest_checkpoint(args.run_dir)
    if os.path.isfile(checkpoint):
        state = load_checkpoint(checkpoint, mmap=True)
        if state.get("epoch"):
            steps_per_epoch = (state["step"] - state.get("epoch_step", 0)) / state["epoch"]
        views = state.get("config", {}).get("dataset", {}).get("viewpoints", {}).get("num")
        chance = 100.0 / views if views else None
    return plot_curves(args.out, read_scalars(args.run_dir), title=os.path.basename(os.path.normpath(args.run_dir)),
                       steps_per_epoch=steps_per_epoch, chance=chance)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    modes = parser.add_subparsers(dest="mode", required=True)
    for name, help_text in (("method", "the AVSA method drawn on a real sample: viewpoints, crops, rotated FOA, "
                                       "encoders, translation, contrastive pairs"),
                            ("sample", "a 360° sample: viewpoints, FOA power, crops, each view's FOA energy and "
                                       "intensity direction"),
                            ("localize", "sound-source localisation map of a trained model")):
        mode = modes.add_parser(name, help=help_text)
        mode.add_argument("config", help="pre-training config (its dataset section is used; method: also its model "
                                         "and loss)")
        mode.add_argument("--split", default="test", choices=["train", "test"])
        mode.add_argument("--index", type=int, default=0, help="sample index in the split")
        add_overrides(mode)
        mode.add_argument("--out", required=True, help="PNG path")
        if name == "localize":
            mode.add_argument("--checkpoint", required=True, help="pre-training checkpoint (checkpoint.pth)")
            mode.add_argument("--step", type=float, default=10.0, help="grid step in degrees")
    segm = modes.add_parser("segmentation", help="predictions next to ground truth of a segmentation eval run")
    segm.add_argument("run_dir", help="eval-audiovisual-segm.py run directory (holds results.json, checkpoint.pth)")
    segm.add_argument("--samples", type=int, default=4)
    segm.add_argument("--out", required=True)
    curves = modes.add_parser("curves", help="training curves of a run directory (TensorBoard events)")
    curves.add_argument("run_dir")
    curves.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    path = {"method": cmd_method, "sample": cmd_sample, "localize": cmd_localize, "segmentation": cmd_segmentation,
            "curves": cmd_curves}[args.mode](args)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    run_main(main)
