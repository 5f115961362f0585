"""Sphere geometry of 360° video: the equirectangular grid and gnomonic (perspective) views of equirectangular frames.

Coordinate convention of the whole project (written here and in `utils/ambisonics.py` only):
* azimuth 0 = front = the centre column of the equirectangular frame, positive to the LEFT (the left image edge is
  +180°, the right edge −180°); elevation positive UP (top row +90°). Angles are radians in code, degrees in configs.
* Cartesian frame: X front, Y left, Z up; direction (az, el) = (cos az·cos el, sin az·cos el, sin el).
* Equirect pixel x ∈ [0, W) (pixel edges) ↔ azimuth π·(1 − 2x/W); y ∈ [0, H) ↔ elevation (π/2)·(1 − 2y/H).
A perspective view centred on (az, el) with zero roll has its image x axis pointing right and its y axis down; its
half-extents on the tangent plane are tan(hfov/2) and tan(vfov/2) (the original code's grid: docs/paper-fidelity.md).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["angular_distance", "equirect_angles", "equirect_pixel", "equirect_to_perspective", "perspective_directions"]


def equirect_angles(height: int, width: int, dtype: torch.dtype = torch.float32,
                    device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Azimuth (W,) and elevation (H,), radians, of the pixel centres of an H × W equirectangular frame: from just
    inside +180° (column 0) to just inside −180°, and from just below +90° (row 0) to just above −90°."""
    azimuth = math.pi * (1 - 2 * (torch.arange(width, dtype=dtype, device=device) + 0.5) / width)
    elevation = math.pi / 2 * (1 - 2 * (torch.arange(height, dtype=dtype, device=device) + 0.5) / height)
    return azimuth, elevation


def equirect_pixel(azimuth, elevation, height: int, width: int):
    """Pixel coordinates (x, y) of directions on an H × W equirectangular frame, measured from its top-left corner
    (pixel i spans [i, i + 1)): x = (π − azimuth)·W/2π, y = (π/2 − elevation)·H/π. Tensors or floats."""
    return (math.pi - azimuth) * (width / (2 * math.pi)), (math.pi / 2 - elevation) * (height / math.pi)


def angular_distance(azimuth_a, elevation_a, azimuth_b, elevation_b) -> torch.Tensor:
    """Great-circle angle (radians) between directions; broadcasts. Haversine form: exact for small angles."""
    half_del = (elevation_b - elevation_a) / 2
    half_daz = (azimuth_b - azimuth_a) / 2
    h = torch.sin(half_del) ** 2 + torch.cos(elevation_a) * torch.cos(elevation_b) * torch.sin(half_daz) ** 2
    return 2 * torch.asin(h.clamp(0, 1).sqrt())


def perspective_directions(azimuth, elevation, hfov, vfov, size) -> tuple[torch.Tensor, torch.Tensor]:
    """Azimuth and elevation (K, h, w) seen by each pixel centre of K perspective views (inverse gnomonic projection).

    azimuth, elevation, hfov, vfov: (K,) radians; size: (h, w).
    """
    h, w = size
    device, dtype = azimuth.device, azimuth.dtype if azimuth.is_floating_point() else torch.float32
    screen_x = (torch.arange(w, device=device, dtype=dtype) + 0.5) * (2 / w) - 1  # (w,) in (-1, 1), right
    screen_y = (torch.arange(h, device=device, dtype=dtype) + 0.5) * (2 / h) - 1  # (h,) in (-1, 1), down
    right = screen_x[None, None, :] * torch.tan(hfov / 2)[:, None, None]  # (K, 1, w)
    down = screen_y[None, :, None] * torch.tan(vfov / 2)[:, None, None]  # (K, h, 1)
    # Camera ray (forward 1, left −right, up −down), pitched up by el about Y, then yawed by az about Z.
    cos_el, sin_el = torch.cos(elevation)[:, None, None], torch.sin(elevation)[:, None, None]
    forward = cos_el + down * sin_el  # (K, h, 1): X after the pitch (screen-down is −up of the camera)
    up = sin_el - down * cos_el  # (K, h, 1): Z
    cos_az, sin_az = torch.cos(azimuth)[:, None, None], torch.sin(azimuth)[:, None, None]
    x = forward * cos_az + right * sin_az  # left = −right; X = fwd·cos az − left·sin az
    y = forward * sin_az - right * cos_az  # Y = fwd·sin az + left·cos az
    ray_azimuth = torch.atan2(y, x)
    ray_elevation = torch.atan2(up.expand_as(x), torch.hypot(x, y))
    return ray_azimuth, ray_elevation


def equirect_to_perspective(equirect: torch.Tensor, azimuth, elevation, hfov, vfov, size,
                            mode: str = "bilinear") -> torch.Tensor:
    """K perspective views of T equirectangular frames in one ``grid_sample`` call, optionally for a batch.

    equirect: (T, C, H, W) or (..., T, C, H, W) uint8 or float (any device; label maps: integer dtype with
    ``mode="nearest"``). azimuth, elevation, hfov, vfov: (K,) or (..., K) radians (tensors or floats), broadcast
    against the leading dimensions of ``equirect``. size: (h, w).
    Returns (K·T, C, h, w) (or (..., K·T, C, h, w)), view-major (reshape to (K, T, C, h, w)), dtype of the input
    (integers rounded).
    """
    *batch, frames, channels, height, width = equirect.shape
    device = equirect.device
    angles = [torch.as_tensor(a, dtype=torch.float32, device=device) for a in (azimuth, elevation, hfov, vfov)]
    angles = [a.reshape(1) if a.dim() == 0 else a for a in angles]
    shape = torch.broadcast_shapes(*(a.shape for a in angles), (*batch, 1))
    if len(shape) != len(batch) + 1:
        raise ValueError(f"angles of shape {[tuple(a.shape) for a in angles]} do not fit frames "
                         f"{tuple(equirect.shape)}")
    num_views, lead = shape[-1], math.prod(batch)
    ray_azimuth, ray_elevation = perspective_directions(*(a.expand(shape).reshape(-1) for a in angles), size)
    h, w = size
    # Pixel coordinates of every ray in the frame with one column of circular padding on each side (it carries
    # bilinear interpolation across the ±180° seam).
    column, row = equirect_pixel(ray_azimuth, ray_elevation, height, width)
    column = column + 1
    # Only the rows the views see (plus one for the interpolation) are converted to float and sampled.
    top = max(int(row.min().floor()) - 1, 0)
    bottom = min(int(row.max().ceil()) + 1, height)
    rows = bottom - top
    # Float copy in channels-last memory, (rows, W + 2, C) per frame: a plain conversion from decoded (T, H, W, 3)
    # frames, and grid_sample's CPU kernel is faster on channels-last input.
    source = equirect.reshape(lead * frames, channels, height, width)[..., top:bottom, :]
    padded = torch.empty(lead * frames, rows, width + 2, channels, dtype=torch.float32, device=device)
    padded = padded.permute(0, 3, 1, 2)  # (lead·T, C, rows, W + 2) view
    padded[..., 1:-1] = source
    padded[..., 0] = source[..., -1]
    padded[..., -1] = source[..., 0]
    # → grid_sample's normalised coordinates (align_corners=False).
    grid = torch.stack([column * (2 / (width + 2)) - 1, (row - top) * (2 / rows) - 1], dim=-1)  # (lead·K, h, w, 2)
    # The K views side by side along the width: one grid shared by the T frames of a batch element (no copy).
    grid = grid.reshape(lead, num_views, h, w, 2).permute(0, 2, 1, 3, 4).reshape(lead, 1, h, num_views * w, 2)
    grid = grid.expand(lead, frames, h, num_views * w, 2).reshape(lead * frames, h, num_views * w, 2)
    views = F.grid_sample(padded, grid, mode=mode, padding_mode="border", align_corners=False)  # (lead·T, C, h, K·w)
    views = views.reshape(lead, frames, channels, h, num_views, w).permute(0, 4, 1, 2, 3, 5)
    if not equirect.is_floating_point():
        info = torch.iinfo(equirect.dtype)
        views = views.round().clamp_(info.min, info.max)
    return views.to(equirect.dtype).reshape(*batch, num_views * frames, channels, h, w)
