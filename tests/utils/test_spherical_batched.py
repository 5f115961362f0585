"""equirect_to_perspective with leading batch dimensions (the augment_on: gpu path) equals one call per element,
and the memory layout of the frames (decoded (H, W, T, 3) or contiguous (T, C, H, W)) does not change the views."""

import math

import torch

from utils.spherical import equirect_to_perspective


def _frames(generator, batch, frames=3, height=16, width=32):
    return torch.randint(0, 256, (batch, frames, 3, height, width), generator=generator, dtype=torch.uint8)


def test_batched_views_equal_per_element_calls():
    generator = torch.Generator().manual_seed(0)
    equirect = _frames(generator, 3)
    azimuth = (torch.rand(3, 2, generator=generator) * 2 - 1) * math.pi
    elevation = (torch.rand(3, 2, generator=generator) - 0.5) * 1.2
    hfov = 0.4 + torch.rand(3, 2, generator=generator)
    vfov = 0.4 + torch.rand(3, 2, generator=generator)
    batched = equirect_to_perspective(equirect, azimuth, elevation, hfov, vfov, (6, 8))
    assert batched.shape == (3, 2 * 3, 3, 6, 8)
    for b in range(3):
        single = equirect_to_perspective(equirect[b], azimuth[b], elevation[b], hfov[b], vfov[b], (6, 8))
        # The batched call samples the rows all elements need; the grid differs in the last float bit at most.
        assert (batched[b].int() - single.int()).abs().max() <= 1
        assert (batched[b] != single).float().mean() < 0.01


def test_frame_memory_layout_does_not_matter():
    generator = torch.Generator().manual_seed(1)
    equirect = _frames(generator, 1)[0]  # (T, 3, H, W) contiguous
    decoded_layout = equirect.permute(2, 3, 0, 1).contiguous().permute(2, 3, 0, 1)  # (H, W, T, 3) in memory
    angles = (torch.tensor([0.3, -2.9]), torch.tensor([0.1, -0.4]), torch.tensor([1.0, 0.7]), torch.tensor([0.8, 0.9]))
    torch.testing.assert_close(equirect_to_perspective(decoded_layout, *angles, (5, 7)),
                               equirect_to_perspective(equirect, *angles, (5, 7)), rtol=0, atol=0)
    # Float frames: no rounding, so exactly equal too; and a scalar angle broadcasts over the views.
    floats = equirect.float() / 255
    torch.testing.assert_close(equirect_to_perspective(floats, angles[0], 0.2, 1.0, 0.8, (5, 7)),
                               equirect_to_perspective(floats, angles[0], torch.full((2,), 0.2), torch.ones(2),
                                                       torch.full((2,), 0.8), (5, 7)))
