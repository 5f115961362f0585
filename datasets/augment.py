"""Joint audio-visual augmentation of crops, as pure batched functions (spec §3.7, §4.1, §4.2, §10.3).

Random draws are separated from their application: `draw_clip_augmentation` makes every random choice for N clips
(a clip = one crop's T frames and its FOA), and the ``apply_*`` functions are deterministic given those draws, on any
device. So a CPU and a GPU pipeline can be compared with the same draws.

Shapes: video clips (N, 3, T, H, W) float in [0, 1] before `normalize_video`; FOA (N, 4, S) ambiX; azimuth (N,) radians.
The horizontal flip is JOINT: it mirrors the video, the audio (negate Y) and the viewpoint's azimuth together; the
original flipped the video alone, making left/right cues inconsistent half of the time (§10.3).
"""

from __future__ import annotations

import torch

from utils.ambisonics import mirror_foa

__all__ = ["apply_color_jitter", "apply_joint_flip", "apply_volume", "draw_clip_augmentation", "normalize_video",
           "views_to_clips"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_GRAY_WEIGHTS = (0.2989, 0.587, 0.114)  # ITU-R 601 luma as torchvision rounds it
_JITTER_OPS = ("brightness", "contrast", "saturation", "hue")


def _uniform(n: int, low: float, high: float, generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=generator)


def draw_clip_augmentation(generator: torch.Generator, n: int, *, flip_probability: float = 0.5,
                           brightness: float = 0.4, contrast: float = 0.4, saturation: float = 0.4, hue: float = 0.2,
                           volume: float = 0.1) -> dict[str, torch.Tensor]:
    """Every random choice for ``n`` clips (one draw per clip, shared by its frames), as CPU tensors:
    flip (n,) bool; brightness, contrast, saturation (n,) factors ~ U[1 − x, 1 + x]; hue (n,) shift ~ U[−hue, hue]
    in turns; jitter_order (n, 4) a permutation of (brightness, contrast, saturation, hue) per clip, as torchvision's
    ColorJitter; gain (n,) ~ U[1 − volume, 1 + volume]. Zero strengths give identity factors."""
    return {
        "flip": torch.rand(n, generator=generator) < flip_probability,
        "brightness": _uniform(n, 1 - brightness, 1 + brightness, generator),
        "contrast": _uniform(n, 1 - contrast, 1 + contrast, generator),
        "saturation": _uniform(n, 1 - saturation, 1 + saturation, generator),
        "hue": _uniform(n, -hue, hue, generator),
        "jitter_order": torch.rand(n, len(_JITTER_OPS), generator=generator).argsort(dim=1),
        "gain": _uniform(n, 1 - volume, 1 + volume, generator),
    }


def views_to_clips(views: torch.Tensor, num_views: int) -> torch.Tensor:
    """`equirect_to_perspective` output (K·T, 3, h, w) uint8 → clips (K, 3, T, h, w) float in [0, 1] (one copy)."""
    frames = views.shape[0] // num_views
    clips = views.reshape(num_views, frames, *views.shape[1:]).transpose(1, 2)
    return clips.to(torch.float32).mul_(1 / 255)


def _gray(clips: torch.Tensor) -> torch.Tensor:
    weights = torch.tensor(_GRAY_WEIGHTS, dtype=clips.dtype, device=clips.device)
    return torch.einsum("nc...,c->n...", clips, weights).unsqueeze(1)  # (N, 1, T, H, W)


def _per_clip(factor: torch.Tensor, clips: torch.Tensor) -> torch.Tensor:
    return factor.to(clips).reshape(-1, *([1] * (clips.dim() - 1)))


def _blend(clips, other, factor):
    return (factor * clips + (1 - factor) * other).clamp_(0, 1)


def _shift_hue(clips: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Rotate the HSV hue by ``shift`` turns (per clip), keeping saturation and value."""
    r, g, b = clips.unbind(1)
    value, _ = clips.max(dim=1)
    chroma = value - clips.min(dim=1).values
    safe_chroma = torch.where(chroma > 0, chroma, torch.ones_like(chroma))
    hue = torch.where(value == r, (g - b) / safe_chroma,
                      torch.where(value == g, 2 + (b - r) / safe_chroma, 4 + (r - g) / safe_chroma))
    hue = torch.remainder(hue / 6 + shift[:, 0], 1.0)
    saturation = torch.where(value > 0, chroma / torch.where(value > 0, value, torch.ones_like(value)),
                             torch.zeros_like(value))
    # HSV → RGB: channel n ∈ (5, 3, 1) for (R, G, B) is v − v·s·clamp(min(k, 4 − k), 0, 1), k = (n + 6h) mod 6.
    channels = []
    for n in (5.0, 3.0, 1.0):
        k = torch.remainder(n + 6 * hue, 6.0)
        channels.append(value - value * saturation * torch.minimum(k, 4 - k).clamp(0, 1))
    return torch.stack(channels, dim=1)


def _apply_jitter_op(op: str, clips: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    if op == "brightness":
        return (clips * factor).clamp_(0, 1)
    if op == "contrast":
        return _blend(clips, _gray(clips).mean(dim=(-2, -1), keepdim=True), factor)  # mean grey of each frame
    if op == "saturation":
        return _blend(clips, _gray(clips), factor)
    return _shift_hue(clips, factor)


def apply_color_jitter(clips: torch.Tensor, params: dict[str, torch.Tensor]) -> torch.Tensor:
    """Colour jitter with the drawn factors, each clip's four adjustments in its own order (torchvision semantics,
    every adjustment clamped to [0, 1]). clips: (N, 3, T, H, W) float in [0, 1] → same shape."""
    order = params["jitter_order"].to(clips.device)
    out = clips
    for position in range(len(_JITTER_OPS)):
        for op_index, op in enumerate(_JITTER_OPS):
            chosen = (order[:, position] == op_index).nonzero().flatten()
            if chosen.numel() == 0:
                continue
            factor = _per_clip(params[op].to(clips.device)[chosen], clips)
            if chosen.numel() == out.shape[0]:
                out = _apply_jitter_op(op, out, factor)
            else:
                out = out.index_copy(0, chosen, _apply_jitter_op(op, out[chosen], factor))
    return out


def apply_joint_flip(video: torch.Tensor, foa: torch.Tensor, azimuth: torch.Tensor,
                     flip: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Mirror left–right the clips selected by ``flip`` (N,) bool: video (N, ..., W) along its last axis, FOA
    (N, 4, S) by negating Y, and azimuth (N,) → −azimuth. Valid for perspective crops with audio rotated toward them
    and for whole equirectangular frames with raw FOA alike: both are mirrored about their own vertical plane."""
    flip = flip.to(video.device)
    video = torch.where(flip.reshape(-1, *([1] * (video.dim() - 1))), video.flip(-1), video)
    foa = torch.where(flip.to(foa.device).reshape(-1, 1, 1), mirror_foa(foa), foa)
    azimuth = torch.where(flip.to(azimuth.device), -azimuth, azimuth)
    return video, foa, azimuth


def apply_volume(foa: torch.Tensor, gain: torch.Tensor) -> torch.Tensor:
    """Volume jitter (§4.2): FOA (N, 4, S) × gain (N,), clipped to [−1, 1] as the original did."""
    return (foa * gain.to(foa).reshape(-1, 1, 1)).clamp(-1, 1)


def normalize_video(frames: torch.Tensor) -> torch.Tensor:
    """ImageNet normalisation of (N, 3, T, H, W) (or (3, T, H, W)) clips: uint8 (0..255) or float in [0, 1] → float."""
    mean = torch.tensor(IMAGENET_MEAN, device=frames.device).reshape(3, 1, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=frames.device).reshape(3, 1, 1, 1)
    scale = 1 / 255 if frames.dtype == torch.uint8 else 1.0
    return (frames.to(torch.float32) * scale - mean) / std
