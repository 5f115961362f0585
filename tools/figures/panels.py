"""Every figure's fixed size (``FIGURE_SIZE`` at ``DPI``, so PNGs are comparable across runs), its saving, and the
matplotlib panels several figures share: the 360° frame with its viewpoints, a crop, a view's FOA energy, a compass."""

from __future__ import annotations

import math
import os

import matplotlib.pyplot as plt
import torch

from tools.figures.data import FOA_NAMES
from utils.spherical import equirect_pixel, perspective_directions

FIGURE_SIZE = {"method": (16.0, 6.5), "sample": (12.0, 11.0), "localize": (12.0, 9.0), "segmentation": (11.0, 9.0),
               "curves": (15.0, 8.0)}
DPI = 100


def figure(mode: str):
    return plt.figure(figsize=FIGURE_SIZE[mode], dpi=DPI)


def save(fig, path: str) -> str:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def frame_image(frame: torch.Tensor):
    """(3, H, W) uint8 → (H, W, 3) array for imshow."""
    return frame.permute(1, 2, 0).numpy()


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


_AZIMUTH_TICKS = ["180°", "90°", "0°", "−90°", "−180°"]
VIEW_COLOURS = plt.get_cmap("tab10")
_CHANNEL_COLOURS = ("0.55", "tab:purple", "tab:olive", "tab:cyan")  # W, Y′, Z′, X′
ENERGY_FLOOR_DB = -30.0


def frame_axes(ax, frame: torch.Tensor, power: torch.Tensor, views: dict[str, torch.Tensor],
               fontsize: float = 12) -> None:
    """The equirectangular frame, the FOA power (dB) over it and each view's outline and number."""
    height, width = frame.shape[1:]
    ax.imshow(frame_image(frame), extent=(0, width, height, 0))
    decibels = 10 * torch.log10(power / power.max() + 1e-6)
    ax.imshow(decibels.clamp_min(-12).numpy(), extent=(0, width, height, 0), cmap="inferno", alpha=0.45)
    for k in range(len(views["azimuth"])):
        xs, ys = viewpoint_outline(*(float(views[a][k]) for a in ("azimuth", "elevation", "hfov", "vfov")),
                                   width, height)
        ax.plot(xs, ys, color=VIEW_COLOURS(k), linewidth=2)
        x, y = equirect_pixel(views["azimuth"][k], views["elevation"][k], height, width)
        ax.text(float(x), float(y), str(k), color=VIEW_COLOURS(k), ha="center", va="center", fontsize=fontsize,
                weight="bold")
    ax.set_xticks([0, width / 4, width / 2, 3 * width / 4, width], _AZIMUTH_TICKS, fontsize=fontsize - 3)
    ax.set_yticks([0, height / 2, height], ["90°", "0°", "−90°"], fontsize=fontsize - 3)


def image_axes(ax, image: torch.Tensor, label: str, colour=None) -> None:
    """A uint8 (3, h, w) image without ticks, framed in ``colour``; ``label`` names the axes (tests find it)."""
    ax.imshow(frame_image(image))
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_label(label)
    if colour is not None:
        for spine in ax.spines.values():
            spine.set_edgecolor(colour)
            spine.set_linewidth(2.5)


def energy_axes(ax, energy_db: torch.Tensor, label: str, fontsize: float = 8) -> None:
    """Bars of W, Y′, Z′, X′ in dB re W (floor ``ENERGY_FLOOR_DB``)."""
    values = energy_db.clamp_min(ENERGY_FLOOR_DB).tolist()
    ax.bar(range(4), [v - ENERGY_FLOOR_DB for v in values], bottom=ENERGY_FLOOR_DB, color=_CHANNEL_COLOURS)
    ax.set_ylim(ENERGY_FLOOR_DB, 3)
    ax.set_xticks(range(4), FOA_NAMES, fontsize=fontsize)
    ax.tick_params(axis="y", labelsize=fontsize - 1)
    ax.axhline(0, color="0.3", linewidth=0.6)
    ax.set_label(label)


def compass_axes(ax, azimuth: float, elevation: float, strength: float, hfov: float, colour, label: str) -> None:
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
