"""Viewpoint sampling: real minimum separation, ranges, deterministic fallback, the same draws from the same
generator."""

import math

import pytest
import torch

from datasets.viewpoints import max_viewpoints_for_separation, sample_viewpoints
from utils.spherical import angular_distance


def _min_pairwise_deg(views):
    d = angular_distance(views.azimuth[:, None].double(), views.elevation[:, None].double(),
                         views.azimuth[None, :].double(), views.elevation[None, :].double())
    d = d + torch.eye(len(views.azimuth), dtype=torch.float64) * 10
    return math.degrees(float(d.min()))


def test_separation_and_ranges_hold_over_many_samples():
    generator = torch.Generator().manual_seed(0)
    for _ in range(200):
        views = sample_viewpoints(4, generator, min_separation_deg=40, elevation_deg=(-30, 30), hfov_deg=(25, 76.3),
                                  aspect_jitter=True)
        assert _min_pairwise_deg(views) >= 40 - 1e-3
        assert (views.elevation.abs() <= math.radians(30) + 1e-6).all()
        assert (views.azimuth.abs() <= math.pi).all()
        assert ((views.hfov >= math.radians(25) - 1e-6) & (views.hfov <= math.radians(76.3) + 1e-6)).all()
        aspect = torch.tan(views.vfov / 2) / torch.tan(views.hfov / 2)
        assert ((aspect >= 0.75 - 1e-5) & (aspect <= 4 / 3 + 1e-5)).all()


def test_without_separation_pairs_come_closer():
    """Control: the unconstrained sampler does produce close pairs, so the test above is not vacuous."""
    generator = torch.Generator().manual_seed(0)
    closest = min(_min_pairwise_deg(sample_viewpoints(4, generator, elevation_deg=(-30, 30))) for _ in range(200))
    assert closest < 10


def test_fallback_is_an_even_ring_and_generator_advances_the_same():
    limit = max_viewpoints_for_separation(85, (-30, 30))
    assert limit == 4  # 360°/4 = 90° ≥ 85° on the horizon, 360°/5 = 72° < 85°
    with pytest.raises(ValueError):
        sample_viewpoints(5, torch.Generator().manual_seed(0), min_separation_deg=85, elevation_deg=(-30, 30))
    used_fallback = 0
    for seed in range(30):
        generator = torch.Generator().manual_seed(seed)
        views = sample_viewpoints(4, generator, min_separation_deg=85, elevation_deg=(-30, 30))
        assert _min_pairwise_deg(views) >= 85 - 1e-3
        if (views.elevation == 0).all():
            used_fallback += 1
            steps = torch.remainder(views.azimuth.diff(), 2 * math.pi)
            assert torch.allclose(steps, torch.full_like(steps, math.pi / 2), atol=1e-5)
        reference = torch.Generator().manual_seed(seed)
        sample_viewpoints(4, reference, min_separation_deg=0, elevation_deg=(-30, 30))
        assert torch.equal(torch.rand(3, generator=generator), torch.rand(3, generator=reference))
    assert used_fallback > 0


def test_fallback_ring_elevation_is_closest_to_horizon():
    views = sample_viewpoints(3, torch.Generator().manual_seed(0), min_separation_deg=100, elevation_deg=(10, 20))
    assert torch.allclose(views.elevation, torch.full((3,), math.radians(10)))
    assert max_viewpoints_for_separation(100, (10, 20)) == 3


def test_viewpoints_depend_on_the_generator_alone():
    a, b, c = (sample_viewpoints(4, torch.Generator().manual_seed(seed), min_separation_deg=30) for seed in (7, 7, 8))
    assert torch.equal(a.azimuth, b.azimuth) and torch.equal(a.hfov, b.hfov)
    assert not torch.equal(a.azimuth, c.azimuth)
    assert torch.equal(a.vfov, a.hfov)  # no aspect jitter at test time