"""Figures of finished runs: a segmentation benchmark's predictions next to the ground truth, and a run's training
curves (`data.read_scalars`) against epochs."""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib.pyplot as plt
import torch
from matplotlib.colors import ListedColormap
from matplotlib.patches import Patch

from tools.figures.panels import figure, frame_image, save

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
    fig = figure("segmentation")
    axes = fig.subplots(len(crops), 3, squeeze=False)
    for i in range(len(crops)):
        panels = ((crops[i], "crop"), (truth[i], "ground truth"), (prediction[i], "prediction"))
        for j, (image, name) in enumerate(panels):
            ax = axes[i, j]
            if image.dim() == 3:
                ax.imshow(frame_image(image))
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
    return save(fig, path)


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
    fig = figure("curves")
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
    return save(fig, path)
