"""``--debug`` figure: the first batch's crops next to their audio log-mels, to check at a glance that views and
sounds line up (rows: samples; per viewpoint: the middle frame of the crop and the log-mel of the FOA channel X,
which after the rotation toward the viewpoint is the front-facing one, so it differs between viewpoints; W does not)."""

from __future__ import annotations

import matplotlib
import torch

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the file-only backend)

from utils.ambisonics import ACN_X  # noqa: E402


def _to_image(frame: torch.Tensor) -> torch.Tensor:
    """(3, H, W) normalised → (H, W, 3) in [0, 1] (min-max per crop: the normalisation constants do not matter)."""
    frame = frame.float()
    frame = (frame - frame.min()) / (frame.max() - frame.min()).clamp_min(1e-8)
    return frame.permute(1, 2, 0)


def save_batch_figure(batch: dict, path: str, max_samples: int = 4) -> str:
    """batch: ``video`` (B, K, 3, T, H, W), ``audio`` (B, K, 4, Ta, F), ``position`` (B, K, 3). Writes a PNG."""
    video, audio, position = batch["video"], batch["audio"], batch["position"]
    samples, views = min(video.shape[0], max_samples), video.shape[1]
    fig, axes = plt.subplots(samples, 2 * views, figsize=(2.2 * 2 * views, 2.2 * samples), squeeze=False)
    for b in range(samples):
        for k in range(views):
            crop_ax, mel_ax = axes[b, 2 * k], axes[b, 2 * k + 1]
            crop_ax.imshow(_to_image(video[b, k, :, video.shape[3] // 2]).numpy())
            azimuth, elevation = torch.rad2deg(position[b, k, :2]).tolist()
            crop_ax.set_title(f"#{b} view {k}: az {azimuth:.0f}° el {elevation:.0f}°", fontsize=7)
            mel_ax.imshow(audio[b, k, ACN_X].float().T.numpy(), origin="lower", aspect="auto", cmap="magma")
            mel_ax.set_title("log-mel (X, front)", fontsize=7)
            for ax in (crop_ax, mel_ax):
                ax.set_xticks([])
                ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
