#!/usr/bin/env python
"""Pictures researchers want to see: a 360° sample, a sound-source localisation map, segmentations, training curves.

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

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

from datasets import build_dataset  # noqa: E402
from datasets.audio_stats import audio_features  # noqa: E402
from datasets.augment import IMAGENET_MEAN, IMAGENET_STD, normalize_video  # noqa: E402
from datasets.yt360 import SEGMENTATION_CLASSES  # noqa: E402
from engine.schema import PRETRAIN_SCHEMA  # noqa: E402
from evaluation.pretrained import load_benchmark, load_pretrained  # noqa: E402
from evaluation.schema import EVAL_SCHEMA, config_schema  # noqa: E402
from evaluation.segmentation import Segmentation  # noqa: E402
from utils.ambisonics import ACN_X, foa_power_map, rotate_foa  # noqa: E402
from utils.cli import run_main  # noqa: E402
from utils.config import load_config  # noqa: E402
from utils.errors import ConfigError  # noqa: E402
from utils.runs import finished_run_directory, latest_checkpoint, read_results, results_path  # noqa: E402
from utils.spherical import (  # noqa: E402
    equirect_angles, equirect_pixel, equirect_to_perspective, perspective_directions,
)

FIGURE_SIZE = {"sample": (12.0, 9.0), "localize": (12.0, 9.0), "segmentation": (9.0, 9.0), "curves": (12.0, 8.0)}
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


# ==================================================================================================== trained model


class ModelScorer:
    """The pre-training task's alignment score: cosine similarity of the criterion's projection heads between the
    video crop and the audio rotated toward it (V2A: g_v2a(v) through ``audio_pred_head`` vs a through
    ``audio_head`` with translation networks, else v through ``video_projection`` vs a through ``audio_projection``)."""

    def __init__(self, model: torch.nn.Module, criterion: torch.nn.Module, dataset_cfg: dict):
        self.model, self.criterion = model.eval(), criterion.eval()
        self.audio_features = audio_features(dataset_cfg)  # the statistics under dataset.root, as training read them

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


def plot_sample(path: str, frame: torch.Tensor, power: torch.Tensor, views: dict[str, torch.Tensor],
                crops: torch.Tensor, mels: torch.Tensor) -> str:
    """frame (3, H, W) uint8; power (h, w) FOA beam power; views: (K,) ``azimuth``, ``elevation``, ``hfov``,
    ``vfov`` (radians); crops (K, 3, h, w) uint8; mels (K, Ta, F) log-mel of the X channel of the FOA rotated toward
    each view (W is the same for every view)."""
    num_views = crops.shape[0]
    fig = _figure("sample")
    grid = fig.add_gridspec(3, num_views, height_ratios=[2.2, 1, 1])
    height, width = frame.shape[1:]
    ax = fig.add_subplot(grid[0, :])
    ax.imshow(_frame_image(frame), extent=(0, width, height, 0))
    decibels = 10 * torch.log10(power / power.max() + 1e-6)
    ax.imshow(decibels.clamp_min(-12).numpy(), extent=(0, width, height, 0), cmap="inferno", alpha=0.45)
    colours = plt.get_cmap("tab10")
    for k in range(num_views):
        xs, ys = viewpoint_outline(*(float(views[a][k]) for a in ("azimuth", "elevation", "hfov", "vfov")),
                                   width, height)
        ax.plot(xs, ys, color=colours(k), linewidth=2)
        x, y = equirect_pixel(views["azimuth"][k], views["elevation"][k], height, width)
        ax.text(float(x), float(y), str(k), color=colours(k), ha="center", va="center", fontsize=12, weight="bold")
    ax.set_xticks([0, width / 4, width / 2, 3 * width / 4, width], ["180°", "90°", "0°", "−90°", "−180°"])
    ax.set_yticks([0, height / 2, height], ["90°", "0°", "−90°"])
    ax.set_title("360° frame, viewpoints and FOA power (dB, hypercardioid beam)")
    for k in range(num_views):
        crop_ax, mel_ax = fig.add_subplot(grid[1, k]), fig.add_subplot(grid[2, k])
        crop_ax.imshow(_frame_image(crops[k]))
        crop_ax.set_title(f"view {k}: az {math.degrees(views['azimuth'][k]):.0f}° "
                          f"el {math.degrees(views['elevation'][k]):.0f}°", fontsize=9, color=colours(k))
        mel_ax.imshow(mels[k].T.numpy(), origin="lower", aspect="auto", cmap="magma")
        mel_ax.set_title("log-mel of X (the view's front)", fontsize=8)
        for a in (crop_ax, mel_ax):
            a.set_xticks([])
            a.set_yticks([])
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


def segmentation_colours(num_classes: int):
    """Fixed colours per class; the ignore label (255) black."""
    generator = torch.Generator().manual_seed(0)
    colours = torch.rand(256, 3, generator=generator) * 0.8 + 0.2
    colours[num_classes:] = 0
    return ListedColormap(colours.numpy())


def plot_segmentation(path: str, crops: torch.Tensor, truth: torch.Tensor, prediction: torch.Tensor,
                      num_classes: int, title: str = "") -> str:
    """crops (N, 3, h, w) uint8, truth and prediction (N, h, w) int64 (255 = ignore)."""
    cmap = segmentation_colours(num_classes)
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
    fig.suptitle(title)
    return _save(fig, path)


def read_scalars(run_dir: str) -> dict[str, list[tuple[int, float]]]:
    """Every scalar of ``run_dir/tensorboard`` (or ``run_dir`` itself): tag -> [(step, value)] in step order."""
    folder = os.path.join(run_dir, "tensorboard")
    events = EventAccumulator(folder if os.path.isdir(folder) else run_dir, size_guidance={"scalars": 0})
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


CURVE_PANELS = (("loss", "Loss"), ("Acc", "accuracy (%)"), ("lr", "learning rate"), ("clips_per_s", "clips/s"))


def plot_curves(path: str, scalars: dict[str, list[tuple[int, float]]], title: str = "") -> str:
    """Panels of tags containing loss / Acc / lr / clips_per_s; per-epoch tags (``train-epoch/``, ``test/``) are drawn
    at the last step of their epoch so they share the step axis with the per-step ``train/`` tags."""
    steps = [s for tag, values in scalars.items() if tag.startswith("train/") for s, _ in values]
    epochs = [s for tag, values in scalars.items() if not tag.startswith("train/") for s, _ in values]
    steps_per_epoch = max(steps) / max(epochs) if steps and epochs else 1.0
    fig = _figure("curves")
    axes = fig.subplots(2, 2).reshape(-1)
    for ax, (needle, label) in zip(axes, CURVE_PANELS):
        for tag, values in sorted(scalars.items()):
            if needle.lower() not in tag.lower() or "bad_" in tag:
                continue
            scale = 1.0 if tag.startswith("train/") else steps_per_epoch
            xs, ys = [s * scale for s, _ in values], [v for _, v in values]
            ax.plot(xs, ys, label=tag, marker="o" if not tag.startswith("train/") else None, markersize=3)
        ax.set_title(label)
        ax.set_xlabel("step")
        if ax.lines:
            ax.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


# ==================================================================================================== commands


def cmd_sample(args) -> str:
    """Sample ``--index`` of the split as the dataset makes it (its decoding, draws and stages), with crops of at
    least 96 pixels to be seen; the first moment's K views."""
    cfg = load_config(args.config, args.overrides, required=("dataset",),
                      schema=config_schema(args.config, args.overrides))
    data = cfg["dataset"]
    data["video"]["crop_size"] = max(data["video"]["crop_size"], 96)
    dataset = build_dataset(data, args.split, seed=cfg["seed"])
    raw = dataset.decode(args.index)
    draws = dataset.draw(raw, dataset.generator(args.index, "transform"))
    sample = dataset.apply_one(raw, draws)
    num_views = data["viewpoints"]["num"]
    views = {name: draws[name][:num_views] for name in ("azimuth", "elevation", "hfov", "vfov")}  # before any flip
    middle = raw["frames"].shape[1] // 2
    crops = _denormalize(sample["video"][:num_views, :, middle])  # (K, 3, h, w)
    power = foa_power_map(raw["foa"][0], 90, 180)
    return plot_sample(args.out, raw["frames"][0, middle].permute(2, 0, 1), power, views, crops,
                       sample["audio"][:num_views, ACN_X])


def cmd_localize(args) -> str:
    cfg = load_config(args.config, args.overrides, required=("dataset", "model", "loss"), schema=PRETRAIN_SCHEMA)
    pretrained = load_pretrained(cfg, args.config, args.checkpoint, with_criterion=True)
    dataset = build_dataset(cfg["dataset"], args.split, seed=cfg["seed"])
    raw = dataset.decode(args.index)
    frames = raw["frames"][0].permute(0, 3, 1, 2)
    data = cfg["dataset"]
    fov = sum(data["viewpoints"]["hfov_deg"]) / 2
    scorer = ModelScorer(pretrained.model, pretrained.criterion, data)
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
                             len(SEGMENTATION_CLASSES), title)


def _denormalize(frame: torch.Tensor) -> torch.Tensor:
    """(3, H, W) ImageNet-normalised → uint8."""
    mean, std = torch.tensor(IMAGENET_MEAN)[:, None, None], torch.tensor(IMAGENET_STD)[:, None, None]
    return ((frame * std + mean) * 255).round().clamp(0, 255).to(torch.uint8)


def cmd_curves(args) -> str:
    return plot_curves(args.out, read_scalars(args.run_dir), title=os.path.basename(os.path.normpath(args.run_dir)))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    modes = parser.add_subparsers(dest="mode", required=True)
    for name, help_text in (("sample", "a 360° sample: viewpoints, FOA power, crops and log-mels"),
                            ("localize", "sound-source localisation map of a trained model")):
        mode = modes.add_parser(name, help=help_text)
        mode.add_argument("config", help="pre-training config (its dataset section is used)")
        mode.add_argument("--split", default="test", choices=["train", "test"])
        mode.add_argument("--index", type=int, default=0, help="sample index in the split")
        mode.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
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
    path = {"sample": cmd_sample, "localize": cmd_localize, "segmentation": cmd_segmentation,
            "curves": cmd_curves}[args.mode](args)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    run_main(main)
