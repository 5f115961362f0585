"""Rendering a synthetic segment: equirectangular RGB frames with their things and stuff label maps."""

from __future__ import annotations

import math

import numpy as np
import torch

from datasets.synthetic.scene import (NADIR_VOID_DEG, SOURCE_CLASSES, STUFF_CLASSES, STUFF_UNDER_THING, STUFF_VOID,
                                      THINGS_NONE, Background, Segment, object_directions, unit_vectors)
from utils.spherical import equirect_angles


def _equirect_grid(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Azimuth and elevation (H, W) float64 of the pixel centres (`utils.spherical.equirect_angles`)."""
    azimuth, elevation = (a.numpy() for a in equirect_angles(height, width, torch.float64))
    return np.broadcast_to(azimuth[None, :], (height, width)), np.broadcast_to(elevation[:, None], (height, width))


def _wrap(angle):
    return np.mod(angle + math.pi, 2 * math.pi) - math.pi


def _render_background(background: Background, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Static background: RGB uint8 (H, W, 3) and stuff labels uint8 (H, W)."""
    azimuth, elevation = _equirect_grid(width, height)
    rgb = np.zeros((height, width, 3))
    stuff = np.zeros((height, width), dtype=np.uint8)

    def paint(mask, name, colour=None, shade=1.0):
        base = np.asarray(colour if colour is not None else STUFF_CLASSES[name].colour, dtype=np.float64)
        rgb[mask] = np.broadcast_to(np.asarray(shade, dtype=np.float64), mask.shape)[mask][:, None] * base
        stuff[mask] = STUFF_CLASSES[name].stuff_index

    # Sky: brighter toward the horizon, with clouds.
    sky = elevation >= 0
    paint(sky, "sky", shade=1.15 - 0.35 * np.clip(elevation / (math.pi / 2), 0, 1))
    for cloud_az, cloud_el, half_w, half_h in background.clouds:
        inside = (_wrap(azimuth - cloud_az) / half_w) ** 2 + ((elevation - cloud_el) / half_h) ** 2 < 1
        paint(inside & sky, "sky", colour=(236, 240, 246))
    # Mountains: a silhouette of a few azimuth harmonics above the horizon.
    ridge = sum(a * np.cos((k + 1) * azimuth + p) for k, (a, p) in enumerate(background.mountains))
    paint((elevation >= 0) & (elevation < np.maximum(ridge, 0)), "mountain",
          shade=0.85 + 0.3 * np.clip(elevation / 0.1, 0, 1))
    # Ground: a checker on the ground plane (camera one unit above it) gives perspective and makes directions differ.
    ground = elevation < 0
    distance = 1 / np.tan(np.maximum(-elevation, 1e-3))
    tile = background.ground_tile
    checker = (np.floor(distance * np.cos(azimuth) / tile) + np.floor(distance * np.sin(azimuth) / tile)) % 2
    paint(ground, background.ground, shade=np.where(distance > 25, 0.94, 0.86 + 0.16 * checker))
    for landmark in background.landmarks:
        offset = _wrap(azimuth - landmark.azimuth)
        if landmark.kind == "building":
            body = (np.abs(offset) < landmark.width / 2) & (elevation > -0.02) & (elevation < landmark.height)
            windows = (np.mod(offset / 0.06, 1) < 0.45) & (np.mod(elevation / 0.07, 1) < 0.5)
            paint(body, "building", colour=landmark.colour, shade=np.where(windows, 0.6, 1.0))
        else:
            trunk = (np.abs(offset) < landmark.width * 0.08) & (elevation > -0.02) & (elevation < landmark.height * 0.5)
            crown = (offset / (landmark.width / 2)) ** 2 + ((elevation - landmark.height * 0.62) /
                                                             (landmark.height * 0.38)) ** 2 < 1
            paint(trunk, "tree", colour=(95, 70, 45))
            paint(crown, "tree", colour=landmark.colour)
    void = elevation < np.radians(NADIR_VOID_DEG)
    rgb[void] = (45, 45, 48)
    stuff[void] = STUFF_VOID
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8), stuff


def shape_mask(shape: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Inside test of a unit-size shape at tangent-plane coordinates (x, y) in units of its radius (y up)."""
    if shape == "disc":
        return x ** 2 + y ** 2 <= 1
    if shape == "square":
        return np.maximum(np.abs(x), np.abs(y)) <= 0.85
    if shape == "triangle":  # pointing up, circumscribed radius 1.25
        return (y >= -0.625) & (math.sqrt(3) * np.abs(x) + y <= 1.25)
    if shape == "diamond":
        return np.abs(x) + np.abs(y) <= 1.2
    raise ValueError(f"unknown shape {shape!r}")


def render_equirect(segment: Segment, times, width: int, height: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frames of ``segment`` at ``times`` (s, (T,)) → RGB uint8 (T, H, W, 3), things uint8 (T, H, W), stuff uint8
    (T, H, W). Objects are drawn on their tangent plane, so a perspective view shows them undistorted."""
    times = np.asarray(times, dtype=np.float64)
    background_rgb, background_stuff = _render_background(segment.background, width, height)
    rgb = np.repeat(background_rgb[None], len(times), axis=0)
    things = np.full((len(times), height, width), THINGS_NONE, dtype=np.uint8)
    stuff = np.repeat(background_stuff[None], len(times), axis=0)
    grid_azimuth, grid_elevation = _equirect_grid(width, height)
    pixels = unit_vectors(grid_azimuth, grid_elevation).astype(np.float32)  # (H, W, 3)
    for obj in segment.objects:
        source = SOURCE_CLASSES[obj.class_index]
        azimuth, elevation = object_directions(obj, times)
        # Only the rows the object can reach (every shape lies within 1.25 radii of its centre).
        reach = (grid_elevation[:, 0] > elevation.min() - 1.3 * obj.radius) & \
                (grid_elevation[:, 0] < elevation.max() + 1.3 * obj.radius)
        rows = slice(np.argmax(reach), len(reach) - np.argmax(reach[::-1]))
        centre = unit_vectors(azimuth, elevation).astype(np.float32)  # (T, 3)
        east = np.stack([-np.sin(azimuth), np.cos(azimuth), np.zeros_like(azimuth)], axis=-1).astype(np.float32)
        north = np.cross(centre, east)
        depth = pixels[rows] @ centre.T  # (h, W, T): gnomonic projection onto the object's tangent plane
        scale = math.tan(obj.radius) * np.maximum(depth, 1e-6)
        inside = shape_mask(source.shape, (pixels[rows] @ east.T) / scale, (pixels[rows] @ north.T) / scale)
        inside = np.moveaxis(inside & (depth > 0), -1, 0)  # (T, h, W)
        rgb[:, rows][inside] = source.colour
        things[:, rows][inside] = source.coco_index
        stuff[:, rows][inside] = STUFF_UNDER_THING
    return rgb, things, stuff
