"""Viewing directions and fields of view of the K crops of a 360° sample.

Centres uniform in azimuth and in elevation within a band, at least ``min_separation_deg`` apart (bounded rejection
with a deterministic fallback; the generator always advances by the same amount); hfov uniform in ``hfov_deg``, and
with ``aspect_jitter`` a log-uniform aspect in [3/4, 4/3] that sets vfov. Angles follow `utils.spherical`. Details:
docs/data.md ("Viewpoints"); differences from the original code: docs/paper-fidelity.md.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass

import torch

from utils.spherical import angular_distance

__all__ = ["Viewpoints", "max_viewpoints_for_separation", "sample_viewpoints"]

_CANDIDATES_PER_VIEW = 32
_ASPECT_RANGE = (3 / 4, 4 / 3)


@dataclass
class Viewpoints:
    """K crop centres and fields of view, each a float32 (K,) tensor in radians."""

    azimuth: torch.Tensor
    elevation: torch.Tensor
    hfov: torch.Tensor
    vfov: torch.Tensor


def _fallback_elevation(elevation_deg) -> float:
    low, high = elevation_deg
    return math.radians(min(max(0.0, low), high))


def max_viewpoints_for_separation(min_separation_deg: float, elevation_deg=(-28.8, 30.6)) -> int:
    """Largest K for which `sample_viewpoints` guarantees ``min_separation_deg`` (the fallback ring still fits);
    ``sys.maxsize`` without a separation. Config validation uses it to reject impossible (K, separation) pairs."""
    separation = math.radians(min_separation_deg)
    if separation <= 0:
        return sys.maxsize
    elevation = _fallback_elevation(elevation_deg)
    # Neighbours of a ring of K at elevation e are d apart with cos d = sin²e + cos²e·cos(2π/K).
    cos_step = (math.cos(separation) - math.sin(elevation) ** 2) / math.cos(elevation) ** 2
    if cos_step < -1:
        return 1
    return max(1, math.floor(2 * math.pi / math.acos(min(cos_step, 1.0)) + 1e-9))


def _uniform(n: int, low: float, high: float, generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=generator, dtype=torch.float64)


def sample_viewpoints(num: int, generator: torch.Generator, *, min_separation_deg: float = 0.0,
                      elevation_deg=(-28.8, 30.6), hfov_deg=(25.0, 76.3), aspect_jitter: bool = False) -> Viewpoints:
    """Draw ``num`` crop centres at least ``min_separation_deg`` apart, and their FOVs (see the module docstring)."""
    low, high = elevation_deg
    if not low <= high or not -90 <= low <= 90 or not -90 <= high <= 90:
        raise ValueError(f"elevation_deg must be an ordered range within [-90, 90], got {elevation_deg}")
    if num > max_viewpoints_for_separation(min_separation_deg, elevation_deg):
        raise ValueError(f"{num} viewpoints cannot be {min_separation_deg}° apart in elevations {elevation_deg}")
    pool = num * _CANDIDATES_PER_VIEW
    azimuth = _uniform(pool, -math.pi, math.pi, generator)
    elevation = _uniform(pool, math.radians(low), math.radians(high), generator)
    offset = float(_uniform(1, -math.pi, math.pi, generator))
    distance = angular_distance(azimuth[:, None], elevation[:, None], azimuth[None, :], elevation[None, :])
    separated = (distance >= math.radians(min_separation_deg)).numpy()
    accepted: list[int] = []
    for candidate in range(pool):
        if separated[candidate, accepted].all():
            accepted.append(candidate)
            if len(accepted) == num:
                break
    if len(accepted) == num:
        azimuth, elevation = azimuth[accepted], elevation[accepted]
    else:
        azimuth = torch.remainder(offset + 2 * math.pi * torch.arange(num, dtype=torch.float64) / num + math.pi,
                                  2 * math.pi) - math.pi
        elevation = torch.full((num,), _fallback_elevation(elevation_deg), dtype=torch.float64)
    hfov = torch.deg2rad(_uniform(num, *hfov_deg, generator))
    aspect = torch.exp(_uniform(num, *(math.log(a) for a in _ASPECT_RANGE), generator))
    vfov = 2 * torch.atan(aspect * torch.tan(hfov / 2)) if aspect_jitter else hfov
    return Viewpoints(*(v.float() for v in (azimuth, elevation, hfov, vfov)))
