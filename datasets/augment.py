"""Joint audio-visual augmentation of crops, as pure batched functions.

Random draws are separated from their application: `draw_clip_augmentation` makes every random choice for N clips
(a clip = one crop's T frames and its FOA), and the ``apply_*`` functions are deterministic given those draws, on any
device. So a CPU and a GPU pipeline can be compared with the same draws.

Shapes: video clips (N, 3, T, H, W) float in [0, 1] before `normalize_video`; FOA (N, 4, S) ambiX; azimuth (N,) radians.
The horizontal flip is joint: it mirrors the video, the audio (negate Y) and the viewpoint's azimuth together; the
original code flipped the video alone, making left/right cues inconsistent half of the time.
"""

from __future__ import annotations

import math

import torch

from utils.ambisonics import mirror_foa

__all__ = ["apply_color_jitter", "apply_joint_flip", "apply_volume", "colour_jitter_affine", "draw_clip_augmentation",
           "normalize_video", "views_to_clips"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_GRAY_WEIGHTS = (0.2989, 0.587, 0.114)  # ITU-R 601 luma as torchvision rounds it
_JITTER_OPS = ("brightness", "contrast", "saturation", "hue")
_RGB_TO_YIQ = ((0.299, 0.587, 0.114), (0.596, -0.274, -0.322), (0.211, -0.523, 0.312))


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


def _hue_rotation(shift: torch.Tensor) -> torch.Tensor:
    """(N, 3, 3) RGB matrices rotating the chroma plane of YIQ by ``shift`` turns: greys and luma stay unchanged."""
    rgb_to_yiq = torch.tensor(_RGB_TO_YIQ, dtype=torch.float64, device=shift.device)
    angle = 2 * math.pi * shift.double()
    cos, sin, zero, one = torch.cos(angle), torch.sin(angle), torch.zeros_like(angle), torch.ones_like(angle)
    rotation = torch.stack([one, zero, zero, zero, cos, -sin, zero, sin, cos], dim=-1).reshape(-1, 3, 3)
    return (torch.linalg.inv(rgb_to_yiq) @ rotation @ rgb_to_yiq).float()


def colour_jitter_affine(params: dict[str, torch.Tensor], frame_means: torch.Tensor):
    """The four adjustments of each clip, in its drawn order, composed into one affine map per frame:
    x ↦ A·x + b with A (N, T, 3, 3) and b (N, T, 3). frame_means: (N, 3, T) mean colour of each input frame (the
    contrast adjustment blends toward the mean grey of the frame as it is at that point, an affine function of it)."""
    num, _, frames = frame_means.shape
    device = frame_means.device
    params = {k: v.to(device) for k, v in params.items()}
    gray = torch.tensor(_GRAY_WEIGHTS, device=device)
    eye = torch.eye(3, device=device)
    matrix = eye.expand(num, frames, 3, 3)
    offset = torch.zeros(num, frames, 3, device=device)
    mean = frame_means.transpose(1, 2)  # (N, T, 3)
    saturation = (params["saturation"][:, None, None] * eye
                  + (1 - params["saturation"])[:, None, None] * gray.expand(3, 3))  # s·I + (1 − s)·1·gᵀ
    hue = _hue_rotation(params["hue"])
    for position in range(len(_JITTER_OPS)):
        op = params["jitter_order"][:, position].reshape(num, 1, 1, 1)
        brightness = params["brightness"].reshape(num, 1, 1, 1)
        contrast = params["contrast"].reshape(num, 1, 1, 1)
        mean_gray = ((matrix @ mean[..., None])[..., 0] + offset) @ gray  # (N, T)
        candidates = [  # (A, b) after each adjustment
            (brightness * matrix, brightness[..., 0] * offset),
            (contrast * matrix, contrast[..., 0] * offset + (1 - contrast[..., 0]) * mean_gray[..., None]),
            (saturation[:, None] @ matrix, (saturation[:, None] @ offset[..., None])[..., 0]),
            (hue[:, None] @ matrix, (hue[:, None] @ offset[..., None])[..., 0]),
        ]
        matrix = sum(torch.where(op == k, a, 0.0) for k, (a, _) in enumerate(candidates))
        offset = sum(torch.where(op[..., 0] == k, b, 0.0) for k, (_, b) in enumerate(candidates))
    return matrix, offset


def apply_color_jitter(clips: torch.Tensor, params: dict[str, torch.Tensor]) -> torch.Tensor:
    """Colour jitter with the drawn factors, each clip's four adjustments in its own order.

    clips: (N, 3, T, H, W) float in [0, 1] → same shape, clamped to [0, 1]. Brightness, contrast and saturation are
    torchvision's; hue is a rotation about the grey axis in YIQ (not torchvision's HSV shift, ~20× slower on CPU), and
    the result is clamped once at the end rather than after every adjustment. So the whole jitter is one affine map
    per frame, applied in a single pass (factors drawn once per clip, as the original).
    """
    num, channels, frames = clips.shape[:3]
    matrix, offset = colour_jitter_affine(params, clips.mean(dim=(-2, -1)))
    pixels = clips.reshape(num, channels, frames, -1)
    out = torch.einsum("ntij,njtp->nitp", matrix, pixels) + offset.transpose(1, 2)[..., None]
    return out.clamp_(0, 1).reshape(clips.shape)


def apply_joint_flip(video: torch.Tensor, foa: torch.Tensor, azimuth: torch.Tensor,
                     flip: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Mirror left–right the clips selected by ``flip`` (N,) bool: video (N, ..., W) along its last axis, FOA
    (N, 4, S) by negating Y, and azimuth (N,) → −azimuth. Valid for perspective crops with audio rotated toward them
    and for whole equirectangular frames with raw FOA alike: both are mirrored about their own vertical plane."""
    if not bool(flip.any()):  # one decision for all clips is the common case (one flip per sample): no select
        return video, foa, azimuth
    if bool(flip.all()):
        return video.flip(-1), mirror_foa(foa), -azimuth
    flip = flip.to(video.device)
    video = torch.where(flip.reshape(-1, *([1] * (video.dim() - 1))), video.flip(-1), video)
    foa = torch.where(flip.to(foa.device).reshape(-1, 1, 1), mirror_foa(foa), foa)
    azimuth = torch.where(flip.to(azimuth.device), -azimuth, azimuth)
    return video, foa, azimuth


def apply_volume(foa: torch.Tensor, gain: torch.Tensor) -> torch.Tensor:
    """Volume jitter: FOA (N, 4, S) × gain (N,), clipped to [−1, 1] as the original did."""
    return (foa * gain.to(foa).reshape(-1, 1, 1)).clamp(-1, 1)


def normalize_video(frames: torch.Tensor) -> torch.Tensor:
    """ImageNet normalisation of (N, 3, T, H, W) (or (3, T, H, W)) clips: uint8 (0..255) or float in [0, 1] → float."""
    mean = torch.tensor(IMAGENET_MEAN, device=frames.device).reshape(3, 1, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=frames.device).reshape(3, 1, 1, 1)
    scale = 1 / 255 if frames.dtype == torch.uint8 else 1.0
    # x·(scale/std) − mean/std in one pass (it was three: scale, subtract, divide)
    return torch.addcmul(-mean / std, frames, scale / std, value=1).to(torch.float32)
