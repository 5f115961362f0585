"""Gnomonic views: a marker lands where the geometry says (incl. the ±180° seam and ±60° elevation), and the views
agree with an independent per-pixel implementation of the textbook inverse gnomonic formula (Snyder 1987)."""

import math

import numpy as np
import pytest
import torch

from utils.spherical import angular_distance, equirect_angles, equirect_pixel, equirect_to_perspective

H, W = 180, 360  # 1° per pixel
DEG = math.pi / 180


def _pixel_directions(height=H, width=W):
    az = math.pi * (1 - 2 * (torch.arange(width, dtype=torch.float64) + 0.5) / width)
    el = math.pi / 2 * (1 - 2 * (torch.arange(height, dtype=torch.float64) + 0.5) / height)
    return az[None, :].expand(height, width), el[:, None].expand(height, width)


def _marker_frame(az, el, sigma_deg=1.5):
    """Equirect frame (1, 1, H, W) with a Gaussian spot of angular width sigma around (az, el)."""
    pix_az, pix_el = _pixel_directions()
    distance = angular_distance(pix_az, pix_el, torch.tensor(az, dtype=torch.float64),
                                torch.tensor(el, dtype=torch.float64))
    return torch.exp(-((distance / (sigma_deg * DEG)) ** 2)).float()[None, None]


def _centroid(view):
    weights = view.clamp(min=0.05) - 0.05  # ignore the faint tail
    rows, cols = torch.meshgrid(torch.arange(view.shape[0]).float(), torch.arange(view.shape[1]).float(),
                                indexing="ij")
    return float((weights * rows).sum() / weights.sum()), float((weights * cols).sum() / weights.sum())


@pytest.mark.parametrize("az_deg, el_deg", [(0, 0), (35, 20), (-120, -25), (179.5, 10), (-179.0, -5), (180, 0),
                                            (60, 60), (-150, -60)])
def test_marker_lands_at_view_centre(az_deg, el_deg):
    frame = _marker_frame(az_deg * DEG, el_deg * DEG)
    view = equirect_to_perspective(frame, torch.tensor([az_deg * DEG]), torch.tensor([el_deg * DEG]),
                                   torch.tensor([60 * DEG]), torch.tensor([60 * DEG]), (64, 64))
    row, col = _centroid(view[0, 0])
    assert abs(row - 31.5) <= 1 and abs(col - 31.5) <= 1


def test_marker_offset_follows_the_convention():
    """Marker 20° to the left of the view centre (positive azimuth) and 15° above: left and up in the image."""
    frame = _marker_frame(20 * DEG, 0.0)
    view = equirect_to_perspective(frame, [0.0], [0.0], [60 * DEG], [60 * DEG], (64, 64))
    row, col = _centroid(view[0, 0])
    expected_col = 32 * (1 - math.tan(20 * DEG) / math.tan(30 * DEG)) - 0.5
    assert abs(col - expected_col) <= 1 and abs(row - 31.5) <= 1
    frame = _marker_frame(0.0, 15 * DEG)
    row, col = _centroid(equirect_to_perspective(frame, [0.0], [0.0], [60 * DEG], [60 * DEG], (64, 64))[0, 0])
    assert abs(row - (32 * (1 - math.tan(15 * DEG) / math.tan(30 * DEG)) - 0.5)) <= 1 and abs(col - 31.5) <= 1


def _reference_view(frame, az0, el0, hfov, vfov, h, w):
    """Per-pixel inverse gnomonic projection (east = right = −azimuth, north up) + hand-written bilinear sampling."""
    out = np.zeros((h, w))
    lam0, phi1 = -az0, el0
    for j in range(h):
        for i in range(w):
            x = ((i + 0.5) / w * 2 - 1) * math.tan(hfov / 2)
            y = -((j + 0.5) / h * 2 - 1) * math.tan(vfov / 2)
            rho = math.hypot(x, y)
            c = math.atan(rho)
            if rho < 1e-12:
                lat, lon = phi1, lam0
            else:
                lat = math.asin(math.cos(c) * math.sin(phi1) + y * math.sin(c) * math.cos(phi1) / rho)
                lon = lam0 + math.atan2(x * math.sin(c),
                                        rho * math.cos(phi1) * math.cos(c) - y * math.sin(phi1) * math.sin(c))
            az = -lon
            px = ((math.pi - az) / (2 * math.pi) * W - 0.5) % W
            py = min(max((math.pi / 2 - lat) / math.pi * H - 0.5, 0), H - 1)
            x0, y0 = int(math.floor(px)), int(math.floor(py))
            fx, fy = px - x0, py - y0
            x1, y1 = (x0 + 1) % W, min(y0 + 1, H - 1)
            out[j, i] = ((1 - fx) * (1 - fy) * frame[y0, x0] + fx * (1 - fy) * frame[y0, x1]
                         + (1 - fx) * fy * frame[y1, x0] + fx * fy * frame[y1, x1])
    return out


def test_views_agree_with_independent_gnomonic_formula():
    generator = torch.Generator().manual_seed(0)
    frame = torch.rand(1, 1, H, W, generator=generator)
    views = [(0.0, 0.0, 70, 50), (179.0, 20.0, 40, 40), (-100.0, -60.0, 90, 60), (45.0, 75.0, 30, 45)]
    az, el, hf, vf = (torch.tensor([v[k] for v in views], dtype=torch.float32) * DEG for k in range(4))
    result = equirect_to_perspective(frame, az, el, hf, vf, (12, 16))
    assert result.shape == (4, 1, 12, 16)
    for k, (a, e, hfov, vfov) in enumerate(views):
        reference = _reference_view(frame[0, 0].double().numpy(), a * DEG, e * DEG, hfov * DEG, vfov * DEG, 12, 16)
        np.testing.assert_allclose(result[k, 0].numpy(), reference, atol=2e-3)


def test_uint8_frames_views_are_view_major_and_nearest_keeps_labels():
    generator = torch.Generator().manual_seed(1)
    frames = torch.randint(0, 256, (3, 3, 40, 80), dtype=torch.uint8, generator=generator)
    az, el = torch.tensor([0.5, -2.0]), torch.tensor([0.1, -0.3])
    views = equirect_to_perspective(frames, az, el, torch.tensor([1.0, 1.2]), torch.tensor([1.0, 0.9]), (8, 10))
    assert views.shape == (6, 3, 8, 10) and views.dtype == torch.uint8
    single = equirect_to_perspective(frames[2:3].float(), az[1:], el[1:], [1.2], [0.9], (8, 10))
    assert torch.equal(views[5], single[0].round().to(torch.uint8))  # view 1, frame 2
    labels = torch.randint(0, 5, (1, 1, 40, 80), generator=generator) * 7
    label_views = equirect_to_perspective(labels, az, el, [1.0, 1.2], [1.0, 0.9], (8, 10), mode="nearest")
    assert label_views.dtype == torch.int64 and set(label_views.unique().tolist()) <= set(labels.unique().tolist())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu():
    frames = torch.randint(0, 256, (2, 3, 40, 80), dtype=torch.uint8)
    angles = [torch.tensor([0.3, 3.1]), torch.tensor([0.2, -0.5]), torch.tensor([1.0, 1.0]), torch.tensor([0.8, 1.1])]
    cpu = equirect_to_perspective(frames, *angles, (16, 16))
    gpu = equirect_to_perspective(frames.cuda(), *[a.cuda() for a in angles], (16, 16))
    assert (gpu.cpu().int() - cpu.int()).abs().max() <= 1


def test_equirect_angles_and_pixels_of_a_1_degree_frame():
    azimuth, elevation = equirect_angles(H, W, torch.float64)
    assert torch.rad2deg(azimuth[[0, 179, 180, -1]]).tolist() == pytest.approx([179.5, 0.5, -0.5, -179.5])
    assert torch.rad2deg(elevation[[0, 89, 90, -1]]).tolist() == pytest.approx([89.5, 0.5, -0.5, -89.5])
    x, y = equirect_pixel(azimuth, elevation, H, W)  # pixel centres: i + ½
    torch.testing.assert_close(x, torch.arange(W, dtype=torch.float64) + 0.5)
    torch.testing.assert_close(y, torch.arange(H, dtype=torch.float64) + 0.5)
    assert equirect_pixel(math.pi, math.pi / 2, H, W) == (0.0, 0.0)  # the top-left corner
