"""First-order ambisonics (FOA): encoding, rotation toward a viewpoint, mirroring, directional power.

Coordinate convention of the whole project (written here and in `utils/spherical.py` only):
* azimuth 0 = front, positive to the LEFT; elevation positive UP; radians. Cartesian frame X front, Y left, Z up.
* FOA in ambiX: ACN channel order W, Y, Z, X with SN3D normalisation. A plane wave s from (az, el) is
  s·(1, sin az·cos el, sin el, cos az·cos el).
All first-order channels share one normalisation, so a rotation of the sound field is the same 3×3 rotation applied to
the vector (X, Y, Z) with W unchanged. Functions take FOA as (..., 4, S) and per-item angles broadcastable to (...).
"""

from __future__ import annotations

import math

import torch

from utils.spherical import equirect_angles

__all__ = ["ACN_X", "ACN_Y", "ACN_Z", "encode_foa", "foa_power_map", "foa_rotation_matrix", "mirror_foa",
           "mirror_rotation", "random_rotation_angles", "rotate_foa", "rotate_foa_angles", "rotate_foa_yaw",
           "sn3d_directions"]

# Channel positions in the ACN order (W = 0, Y, Z, X). X points to the front: after `rotate_foa` toward a viewpoint,
# X is the channel that faces it.
ACN_Y, ACN_Z, ACN_X = 1, 2, 3
_ACN_XYZ = (ACN_X, ACN_Y, ACN_Z)


def sn3d_directions(azimuth, elevation) -> torch.Tensor:
    """First-order SN3D spherical harmonics in ACN order, (..., 4) = (1, sin az·cos el, sin el, cos az·cos el)."""
    azimuth, elevation = torch.as_tensor(azimuth), torch.as_tensor(elevation)
    cos_el = torch.cos(elevation)
    return torch.stack(torch.broadcast_tensors(torch.ones_like(cos_el), torch.sin(azimuth) * cos_el,
                                               torch.sin(elevation), torch.cos(azimuth) * cos_el), dim=-1)


def encode_foa(signal: torch.Tensor, azimuth, elevation) -> torch.Tensor:
    """Plane wave(s) ``signal`` (..., S) arriving from (azimuth, elevation) (...) → ambiX FOA (..., 4, S)."""
    gains = sn3d_directions(azimuth, elevation).to(signal)
    return gains[..., :, None] * signal[..., None, :]


def _about_z(angle: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) rotation of (X, Y, Z) by ``angle`` about Z (counter-clockwise seen from above: azimuth += angle)."""
    c, s, zero, one = torch.cos(angle), torch.sin(angle), torch.zeros_like(angle), torch.ones_like(angle)
    return torch.stack([c, -s, zero, s, c, zero, zero, zero, one], dim=-1).reshape(*angle.shape, 3, 3)


def _about_y(angle: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) R_y(angle) = [[c, 0, s], [0, 1, 0], [−s, 0, c]]: a positive angle lowers a frontal direction."""
    c, s, zero, one = torch.cos(angle), torch.sin(angle), torch.zeros_like(angle), torch.ones_like(angle)
    return torch.stack([c, zero, s, zero, one, zero, -s, zero, c], dim=-1).reshape(*angle.shape, 3, 3)


def _apply_rotation(foa: torch.Tensor, rotation: torch.Tensor) -> torch.Tensor:
    """Rotate the sound field: (X, Y, Z) ← rotation·(X, Y, Z), W unchanged (one batched matmul, 4×4 in ACN order)."""
    rotation = rotation.to(foa)
    acn = torch.zeros(*rotation.shape[:-2], 4, 4, dtype=foa.dtype, device=foa.device)
    acn[..., 0, 0] = 1
    index = torch.tensor(_ACN_XYZ, device=foa.device)
    acn[..., index[:, None], index[None, :]] = rotation
    return acn @ foa


def rotate_foa(foa: torch.Tensor, azimuth, elevation, order: str = "correct") -> torch.Tensor:
    """Rotate the sound field so that direction (azimuth, elevation) becomes the front, with zero roll.

    foa: (..., 4, S); azimuth, elevation: broadcastable to (...), radians.
    order="correct": R_y(el)·R_z(−az), yaw first then pitch: the viewpoint's direction lands on X′ and its "up" on Z′,
    matching the perspective crop of `utils.spherical.equirect_to_perspective`.
    order="reference": the original code's R_z(−az)·R_y(el). It is WRONG off the horizon (a source at
    (90°, 30°) ends at X′ = 0.866) and exists only to reproduce the released checkpoint, which was trained with it.
    """
    azimuth = torch.as_tensor(azimuth, dtype=foa.dtype, device=foa.device)
    elevation = torch.as_tensor(elevation, dtype=foa.dtype, device=foa.device)
    azimuth, elevation = torch.broadcast_tensors(azimuth, elevation)
    yaw, pitch = _about_z(-azimuth), _about_y(elevation)
    if order == "correct":
        rotation = pitch @ yaw
    elif order == "reference":
        rotation = yaw @ pitch
    else:
        raise ValueError(f"order must be 'correct' or 'reference', not {order!r}")
    return _apply_rotation(foa, rotation)


def rotate_foa_yaw(foa: torch.Tensor, angle) -> torch.Tensor:
    """Rotate the sound field about the vertical axis: a source at azimuth α moves to α + angle (AVSA-Bin
    misalignment). foa: (..., 4, S); angle broadcastable to (...)."""
    return _apply_rotation(foa, _about_z(torch.as_tensor(angle, dtype=foa.dtype, device=foa.device)))


def rotate_foa_angles(foa: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """The FOA rotation of ``angles`` (..., 3) = (azimuth, elevation, yaw): toward (azimuth, elevation) as
    `rotate_foa`, then `rotate_foa_yaw` by yaw (AVSA-Bin's misalignment)."""
    return rotate_foa_yaw(rotate_foa(foa, angles[..., 0], angles[..., 1]), angles[..., 2])


# FOA of three plane waves from X, Y and Z (W = 0), one per sample: rotating it gives the rotation matrix's columns.
_UNIT_WAVES = torch.tensor([[0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
_MIRROR = torch.diag(torch.tensor([1.0, -1.0, 1.0]))  # left-right mirror of (X, Y, Z)


def foa_rotation_matrix(angles: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) matrix acting on (X, Y, Z) of the FOA rotation of ``angles`` (..., 3) (`rotate_foa_angles`)."""
    return rotate_foa_angles(_UNIT_WAVES, angles)[..., list(_ACN_XYZ), :]


def mirror_rotation(rotation: torch.Tensor) -> torch.Tensor:
    """A (..., 3, 3) rotation of (X, Y, Z) as seen in the left-right mirrored scene (Y negated before and after)."""
    return _MIRROR @ rotation @ _MIRROR


def random_rotation_angles(generator: torch.Generator, mode: str, min_angle: float,
                           candidates: int = 64) -> torch.Tensor:
    """A random FOA rotation by at least ``min_angle`` radians, as (3,) angles for `rotate_foa_angles`.

    yaw: angle ~ ±U[min_angle, π] about the vertical. 3d: uniform on SO(3) (Z-Y-Z Euler angles with cos β uniform)
    conditioned on the rotation angle: the first of ``candidates`` draws that is large enough (min_angle ≤ 150°
    fails all 64 with probability < 1e-10; the largest is then taken)."""
    if mode == "yaw":
        magnitude = min_angle + (math.pi - min_angle) * torch.rand((), generator=generator)
        angle = torch.where(torch.rand((), generator=generator) < 0.5, -magnitude, magnitude)
        return torch.stack([torch.tensor(0.0), torch.tensor(0.0), angle])
    alpha, gamma = (2 * torch.rand(2, candidates, generator=generator) - 1) * math.pi
    beta = torch.acos(2 * torch.rand(candidates, generator=generator) - 1)
    options = torch.stack([alpha, beta, gamma], dim=-1)  # (candidates, 3)
    matrices = foa_rotation_matrix(options)
    angles = torch.acos(((matrices.diagonal(dim1=-2, dim2=-1).sum(-1) - 1) / 2).clamp(-1, 1))
    large = (angles >= min_angle).nonzero()
    return options[int(large[0]) if len(large) else int(angles.argmax())]


def mirror_foa(foa: torch.Tensor) -> torch.Tensor:
    """Left–right mirror of the sound field (azimuth → −azimuth): negate Y. Pair it with a horizontal video flip."""
    sign = torch.tensor([1.0, -1.0, 1.0, 1.0], dtype=foa.dtype, device=foa.device)
    return foa * sign[:, None]


def foa_power_map(foa: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Mean power of a steered first-order beam toward every pixel centre of an equirectangular grid.

    foa: (..., 4, S) → (..., height, width) on the grid of `utils.spherical` (column 0 = azimuth +180°, top row = up).
    The beam is the first-order max-directivity (hypercardioid) pattern ¼·W + ¾·(d·(X, Y, Z)), which peaks at the
    source direction for a single plane wave. Computed from the 4×4 channel covariance: no per-direction filtering.
    """
    azimuth, elevation = equirect_angles(height, width, foa.dtype, foa.device)
    steering = sn3d_directions(azimuth[None, :], elevation[:, None])  # (H, W, 4)
    steering = steering * torch.tensor([0.25, 0.75, 0.75, 0.75], dtype=foa.dtype, device=foa.device)
    covariance = foa @ foa.transpose(-1, -2) / foa.shape[-1]  # (..., 4, 4)
    return torch.einsum("hwi,...ij,hwj->...hw", steering, covariance, steering)
