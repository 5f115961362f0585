"""Joint augmentation: colour jitter equals torchvision's per-clip semantics, the joint flip keeps crop and audio in
agreement, volume and normalisation values."""

import math

import pytest
import torch
import torchvision.transforms.functional as TF

from datasets.augment import (apply_color_jitter, apply_joint_flip, apply_volume, draw_clip_augmentation,
                              normalize_video, views_to_clips)
from utils.ambisonics import encode_foa, rotate_foa
from utils.spherical import angular_distance, equirect_to_perspective

DEG = math.pi / 180


def test_draws_are_deterministic_and_in_range():
    a = draw_clip_augmentation(torch.Generator().manual_seed(3), 500)
    b = draw_clip_augmentation(torch.Generator().manual_seed(3), 500)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert 0.4 < a["flip"].float().mean() < 0.6
    assert a["brightness"].min() >= 0.6 and a["brightness"].max() <= 1.4 and a["hue"].abs().max() <= 0.2
    assert a["gain"].min() >= 0.9 and a["gain"].max() <= 1.1
    assert torch.equal(a["jitter_order"].sort(dim=1).values, torch.arange(4).expand(500, 4))


def test_color_jitter_matches_torchvision_per_clip_without_hue():
    """Brightness, contrast, saturation in three different orders equal torchvision's (no value reaches a clamp)."""
    generator = torch.Generator().manual_seed(0)
    clips = 0.35 + 0.3 * torch.rand(3, 3, 2, 6, 7, generator=generator)
    params = draw_clip_augmentation(generator, 3, brightness=0.2, contrast=0.3, saturation=0.4, hue=0.0)
    params["jitter_order"] = torch.tensor([[0, 1, 2, 3], [3, 2, 1, 0], [1, 3, 0, 2]])
    out = apply_color_jitter(clips, params)
    ops = [TF.adjust_brightness, TF.adjust_contrast, TF.adjust_saturation]
    names = ["brightness", "contrast", "saturation"]
    for n in range(3):
        frames = clips[n].transpose(0, 1)  # (T, 3, H, W): torchvision's contrast mean is per frame
        for op in params["jitter_order"][n].tolist():
            if op < 3:
                frames = ops[op](frames, float(params[names[op]][n]))
        assert torch.allclose(out[n], frames.transpose(0, 1), atol=1e-5)


def test_hue_rotation_keeps_greys_and_luma_and_composes():
    generator = torch.Generator().manual_seed(1)
    clips = 0.3 + 0.4 * torch.rand(2, 3, 1, 4, 4, generator=generator)
    clips[1] = clips[1].mean(dim=0, keepdim=True)  # clip 1 is grey
    identity = {"brightness": torch.ones(2), "contrast": torch.ones(2), "saturation": torch.ones(2),
                "hue": torch.zeros(2), "jitter_order": torch.arange(4).expand(2, 4)}
    assert torch.allclose(apply_color_jitter(clips, identity), clips, atol=1e-6)
    shifted = apply_color_jitter(clips, {**identity, "hue": torch.tensor([0.1, 0.1])})
    luma = torch.tensor([0.299, 0.587, 0.114]).reshape(1, 3, 1, 1, 1)
    assert not torch.allclose(shifted[0], clips[0], atol=1e-2)
    assert torch.allclose((shifted * luma).sum(1), (clips * luma).sum(1), atol=1e-5)
    assert torch.allclose(shifted[1], clips[1], atol=1e-5)
    twice = apply_color_jitter(shifted, {**identity, "hue": torch.tensor([0.15, 0.15])})
    assert torch.allclose(twice, apply_color_jitter(clips, {**identity, "hue": torch.tensor([0.25, 0.25])}),
                          atol=1e-5)


def test_joint_flip_keeps_crop_and_audio_consistent():
    """A source 15° left of a crop's centre: after the joint flip both the video marker and the rotated audio put
    it 15° to the right."""
    height, width = 90, 180
    az = math.pi * (1 - 2 * (torch.arange(width) + 0.5) / width)
    el = math.pi / 2 * (1 - 2 * (torch.arange(height) + 0.5) / height)
    source_az, source_el, view_az = 55 * DEG, 0.0, 40 * DEG
    spot = angular_distance(az[None, :], el[:, None], torch.tensor(source_az), torch.tensor(source_el))
    equirect = torch.exp(-((spot / (3 * DEG)) ** 2))[None, None].expand(1, 3, height, width)
    crop = equirect_to_perspective(equirect, [view_az], [0.0], [60 * DEG], [60 * DEG], (32, 32))  # (1, 3, 32, 32)
    foa = rotate_foa(encode_foa(torch.ones(1, 8), torch.tensor([source_az]), torch.tensor([source_el])), view_az, 0.0)
    video, foa_flipped, azimuth = apply_joint_flip(crop[:, :, None], foa, torch.tensor([view_az]),
                                                   torch.tensor([True]))
    column = float((video[0, 0, 0].sum(0) * torch.arange(32)).sum() / video[0, 0, 0].sum())
    screen_right = -foa_flipped[0, 1, 0] / foa_flipped[0, 3, 0]  # −Y′/X′: tan of the angle right of the centre
    assert float(screen_right) == pytest.approx(math.tan(15 * DEG), abs=1e-5)
    assert column == pytest.approx(16 * (1 + screen_right / math.tan(30 * DEG)) - 0.5, abs=1.0)
    assert float(azimuth[0]) == pytest.approx(-view_az)
    unflipped, foa_same, az_same = apply_joint_flip(crop[:, :, None], foa, torch.tensor([view_az]),
                                                    torch.tensor([False]))
    assert torch.equal(unflipped, crop[:, :, None]) and torch.equal(foa_same, foa)
    assert float(az_same[0]) == pytest.approx(view_az)


def test_volume_and_normalisation_values():
    foa = torch.tensor([[[0.5, -0.95]] * 4])
    assert torch.allclose(apply_volume(foa, torch.tensor([1.1])), torch.tensor([[[0.55, -1.0]] * 4]))
    frames = torch.tensor([0, 255], dtype=torch.uint8).reshape(1, 1, 1, 2).expand(3, 1, 1, 2)
    normalized = normalize_video(frames)
    assert float(normalized[0, 0, 0, 0]) == pytest.approx(-0.485 / 0.229, abs=1e-5)
    assert float(normalized[2, 0, 0, 1]) == pytest.approx((1 - 0.406) / 0.225, abs=1e-5)
    assert torch.allclose(normalize_video(frames.float() / 255), normalized)


def test_views_to_clips_layout():
    views = torch.arange(2 * 3 * 3, dtype=torch.uint8).reshape(6, 3, 1, 1)  # K=2 views × T=3 frames, view-major
    clips = views_to_clips(views, 2)
    assert clips.shape == (2, 3, 3, 1, 1)
    assert float(clips[1, 2, 0, 0, 0]) == pytest.approx(float(views[3, 2, 0, 0]) / 255)  # view 1, channel 2, frame 0
