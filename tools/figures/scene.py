"""Figures of one 360° sample: as the dataset makes it (viewpoints, FOA power, crops, what each view's audio hears)
and a trained model's localisation map over its sphere."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from tools.figures.data import ViewSample, view_audio
from tools.figures.panels import (VIEW_COLOURS, compass_axes, energy_axes, figure, frame_axes, frame_image,
                                  image_axes, save)
from utils.spherical import equirect_angles, equirect_pixel


def _view_title(views: dict[str, torch.Tensor], k: int) -> str:
    return f"view {k}: az {math.degrees(views['azimuth'][k]):.0f}° el {math.degrees(views['elevation'][k]):.0f}°"


def plot_sample(path: str, sample: ViewSample) -> str:
    """The frame with its viewpoints and FOA power, each view's crop, and what its audio hears: the energy of the FOA
    rotated toward the view (`view_audio`) and the intensity direction in the view's frame."""
    num_views = sample.crops.shape[0]
    audio = view_audio(sample.foa)
    fig = figure("sample")
    grid = fig.add_gridspec(4, num_views, height_ratios=[2.2, 1, 0.8, 1], hspace=0.45)
    ax = fig.add_subplot(grid[0, :])
    frame_axes(ax, sample.frame, sample.power, sample.views)
    ax.set_title("360° frame, viewpoints and FOA power (dB, hypercardioid beam)")
    for k in range(num_views):
        colour = VIEW_COLOURS(k)
        crop_ax = fig.add_subplot(grid[1, k])
        image_axes(crop_ax, sample.crops[k], f"crop {k}", colour)
        crop_ax.set_title(_view_title(sample.views, k), fontsize=9, color=colour)
        energy_ax = fig.add_subplot(grid[2, k])
        energy_axes(energy_ax, audio["energy_db"][k], f"energy {k}")
        energy_ax.set_title("FOA toward the view, dB re W", fontsize=8)
        compass_axes(fig.add_subplot(grid[3, k], projection="polar"), float(audio["azimuth"][k]),
                     float(audio["elevation"][k]), float(audio["strength"][k]), float(sample.views["hfov"][k]),
                     colour, f"intensity {k}")
    return save(fig, path)


def plot_localization(path: str, frame: torch.Tensor, scores: torch.Tensor, title: str,
                      sources: Sequence[tuple[float, float]] = ()) -> str:
    """frame (3, H, W) uint8; scores (R, C) at the cell centres of `equirect_angles` (`localization_map`'s
    log-probabilities); sources: known (azimuth, elevation) radians to mark."""
    height, width = frame.shape[1:]
    fig = figure("localize")
    ax_frame, ax_map = fig.subplots(2, 1)
    for ax in (ax_frame, ax_map):
        ax.imshow(frame_image(frame), extent=(0, width, height, 0))
        ax.set_xticks([0, width / 4, width / 2, 3 * width / 4, width], ["180°", "90°", "0°", "−90°", "−180°"])
        ax.set_yticks([0, height / 2, height], ["90°", "0°", "−90°"])
    image = ax_map.imshow(scores.numpy(), extent=(0, width, height, 0), cmap="jet", alpha=0.55,
                          interpolation="bilinear")
    fig.colorbar(image, ax=ax_map, fraction=0.025, label="log p(own sound | crop)")
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
    return save(fig, path)
