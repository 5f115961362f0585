"""FOA geometry against physics: plane waves rotated toward their own direction end at the front, other rotations match
an independently built camera basis, and the power map peaks at the source."""

import math

import pytest
import torch

from utils.ambisonics import encode_foa, foa_power_map, mirror_foa, rotate_foa, rotate_foa_yaw
from utils.spherical import angular_distance, perspective_directions

DEG = math.pi / 180


def _directions(n=120, max_el_deg=80.0, seed=0):
    generator = torch.Generator().manual_seed(seed)
    azimuth = (torch.rand(n, generator=generator, dtype=torch.float64) * 2 - 1) * math.pi
    elevation = torch.linspace(-max_el_deg, max_el_deg, n, dtype=torch.float64) * DEG
    return azimuth, elevation


def _signal(n, samples=64, seed=1):
    return torch.randn(n, samples, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_plane_wave_rotated_toward_itself_is_at_the_front():
    azimuth, elevation = _directions()
    signal = _signal(len(azimuth))
    foa = encode_foa(signal.float(), azimuth.float(), elevation.float())  # (N, 4, S)
    rotated = rotate_foa(foa, azimuth.float(), elevation.float())
    w_norm = rotated[:, 0].abs().amax(dim=-1)
    assert (rotated[:, 1].abs().amax(dim=-1) < 1e-5 * w_norm).all()  # Y′
    assert (rotated[:, 2].abs().amax(dim=-1) < 1e-5 * w_norm).all()  # Z′
    assert torch.allclose(rotated[:, 3], rotated[:, 0], atol=1e-5)  # X′ = W: all energy in front
    assert torch.equal(rotated[:, 0], foa[:, 0])


def test_rotation_matches_camera_basis():
    """Source direction d seen from a viewpoint (az, el): front f, left l, up u of a camera with zero roll."""
    source_az, source_el = _directions(seed=2)
    view_az, view_el = _directions(seed=3)
    foa = encode_foa(torch.ones(len(source_az), 1, dtype=torch.float64), source_az, source_el)
    rotated = rotate_foa(foa, view_az, view_el)[..., 0]  # (N, 4): W, Y′, Z′, X′
    d = torch.stack([torch.cos(source_az) * torch.cos(source_el), torch.sin(source_az) * torch.cos(source_el),
                     torch.sin(source_el)], dim=-1)
    ca, sa, ce, se = torch.cos(view_az), torch.sin(view_az), torch.cos(view_el), torch.sin(view_el)
    front = torch.stack([ca * ce, sa * ce, se], dim=-1)
    left = torch.stack([-sa, ca, torch.zeros_like(ca)], dim=-1)
    up = torch.stack([-ca * se, -sa * se, ce], dim=-1)
    expected = torch.stack([(d * left).sum(-1), (d * up).sum(-1), (d * front).sum(-1)], dim=-1)
    assert torch.allclose(rotated[:, 1:], expected, atol=1e-12)


def test_rotation_agrees_with_perspective_crop_pixels():
    """A source seen at some pixel of a crop is, after rotating toward the crop centre, in the same screen direction."""
    az, el, hfov, vfov = (torch.tensor([v], dtype=torch.float64) for v in (2.5, 0.6, 1.3, 1.0))
    ray_az, ray_el = perspective_directions(az, el, hfov, vfov, (6, 8))  # (1, 6, 8)
    foa = encode_foa(torch.ones(6, 8, 1, dtype=torch.float64), ray_az[0], ray_el[0])
    w, y, z, x = rotate_foa(foa, az, el)[..., 0].unbind(-1)
    screen_x = ((torch.arange(8, dtype=torch.float64) + 0.5) / 4 - 1) * torch.tan(hfov / 2)  # right
    screen_y = ((torch.arange(6, dtype=torch.float64) + 0.5) / 3 - 1) * torch.tan(vfov / 2)  # down
    assert torch.allclose(-y / x, screen_x[None, :].expand(6, 8), atol=1e-9)
    assert torch.allclose(-z / x, screen_y[:, None].expand(6, 8), atol=1e-9)


def test_reference_order_reproduces_the_original_error():
    foa = encode_foa(torch.ones(1, dtype=torch.float64), torch.tensor(90 * DEG), torch.tensor(30 * DEG))
    correct = rotate_foa(foa, 90 * DEG, 30 * DEG)
    reference = rotate_foa(foa, 90 * DEG, 30 * DEG, order="reference")
    assert float(correct[3, 0]) == pytest.approx(1.0)
    assert float(reference[3, 0]) == pytest.approx(math.cos(30 * DEG))  # X′ = cos 30° = 0.866
    # On the horizon both orders agree.
    horizon = encode_foa(torch.ones(1, dtype=torch.float64), torch.tensor(1.0), torch.tensor(0.0))
    assert torch.allclose(rotate_foa(horizon, 1.0, 0.0), rotate_foa(horizon, 1.0, 0.0, order="reference"))


def test_batched_per_item_angles():
    azimuth, elevation = _directions(n=6, seed=4)
    foa = encode_foa(_signal(6).reshape(2, 3, -1), azimuth.reshape(2, 3), elevation.reshape(2, 3))
    batched = rotate_foa(foa, azimuth.reshape(2, 3), elevation.reshape(2, 3))
    single = rotate_foa(foa[1, 2], azimuth[5], elevation[5])
    assert batched.shape == (2, 3, 4, 64) and torch.allclose(batched[1, 2], single)


def test_yaw_misalignment_and_mirror_move_the_source():
    azimuth, elevation = _directions(n=20, seed=5)
    foa = encode_foa(_signal(20), azimuth, elevation)
    angle = torch.linspace(-3, 3, 20, dtype=torch.float64)
    assert torch.allclose(rotate_foa_yaw(foa, angle), encode_foa(_signal(20), azimuth + angle, elevation), atol=1e-12)
    assert torch.allclose(mirror_foa(foa), encode_foa(_signal(20), -azimuth, elevation), atol=1e-12)


def test_power_map_peaks_at_the_source():
    azimuth, elevation = _directions(n=12, max_el_deg=75, seed=6)
    foa = encode_foa(_signal(12, samples=256), azimuth, elevation)
    foa = foa + 0.05 * torch.randn(foa.shape, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    power = foa_power_map(foa, 90, 180)  # 2° cells
    assert power.shape == (12, 90, 180)
    peak = power.flatten(1).argmax(dim=1)
    row, col = peak // 180, peak % 180
    peak_az = math.pi * (1 - 2 * (col + 0.5) / 180)
    peak_el = math.pi / 2 * (1 - 2 * (row + 0.5) / 90)
    assert (angular_distance(peak_az, peak_el, azimuth, elevation) < 3 * DEG).all()
