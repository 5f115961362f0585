"""The embedded synthetic dataset: procedurally rendered 360° scenes with ambisonic sound, and short action clips.

Nothing can be downloaded, so every demo and test trains and evaluates on data made here, deterministically from a seed
(issue 4, item 3). `generate(root, preset, seed)` writes:

* ``root/yt360/``: the original YT-360 layout (spec §2.1): ``video/{ID}-{T}.mp4`` (H.264, equirectangular 2:1),
  ``audio/{ID}-{T}.m4a`` (4-channel AAC, ambiX W, Y, Z, X in stored order, layout "4.0", no remixing),
  ``segmentation/{ID}-{T}/{things,stuff}-{NNNN}.png`` (grayscale, map n ↔ time n/4 s), ``train.txt`` / ``test.txt``
  (11-character ids, some with ``-`` / ``_``; a few ids are in neither list, like the real set), ``segments.txt``
  ("{ID} t1,t2,...") and ``tracks.json`` (ground truth: every object's class, colour, sound and direction track),
  and the log-mel statistics file the demo configs name (``dataset.audio.stats``, `datasets.audio_stats`).
* ``root/ucf101/`` and ``root/hmdb51/``: the official layouts of spec §9 with short AVI (MPEG-4 part 2, tag XVID) clips
  whose class is a motion (move left/right, expand, rotate, bounce) of a randomly coloured and textured shape.

Scenes (sizes in `PRESETS`): sky, mountains and a ground (grass, road, sea, sand or snow) with a few landmarks
(buildings, trees) at fixed azimuths, so that viewpoints look different; 1–3 moving objects of distinct classes. A
class fixes an object's shape, COLOUR and SOUND together (`SOURCE_CLASSES`): without that link there is nothing for
audio-visual correspondence to learn (``shared/spec/demo-feasibility.md``). Each object emits its class sound, encoded
into FOA at its moving direction with `utils.ambisonics.encode_foa`; ``reverb=True`` adds a few early reflections
from random directions. Directions use the project convention of `utils.spherical` (azimuth 0 = centre column,
positive LEFT; elevation positive UP); `tracks.json` stores them in degrees, sampled at the video frame times.

Segmentation values follow spec §2.1 and were chosen inside the 32 training classes of §8.4: things = COCO index of
person / car / airplane / boat or 80; stuff = 0 under a thing, sky / mountain / building / tree / grass / road / sea /
sand / snow otherwise, and 54 (void, ignored in training) for the camera mount at the nadir.

Re-running is cheap: every file is written under a temporary name and renamed when complete, so a file that exists is
complete; existing ones are skipped. ``root/synthetic.json`` records the generator's parameters and refuses to mix
data from another seed or preset in one root.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context

import av
import numpy as np
import torch
from PIL import Image

from utils.ambisonics import encode_foa
from utils.errors import DataError

__all__ = ["ACTION_CLASSES", "DEFAULT_ROOT", "PRESETS", "SOURCE_CLASSES", "STUFF_CLASSES", "Preset", "generate",
           "object_directions", "plan_yt360", "render_equirect", "synthesize_foa"]

DEFAULT_ROOT = "data/synthetic"
# A demo pre-training config: its dataset.audio recipe and stats name are those of the statistics written here.
DEMO_CONFIG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", "demo", "avsa.yaml")
FORMAT_VERSION = 1

# --------------------------------------------------------------------------------------------------------------------
# Classes


@dataclass(frozen=True)
class SourceClass:
    name: str  # COCO thing class
    coco_index: int  # value in things-NNNN.png (spec §2.1)
    colour: tuple[int, int, int]
    shape: str
    sound: str


# Saturated colours that no background uses, so colour alone identifies the sound.
SOURCE_CLASSES = (
    SourceClass("person", 0, (230, 40, 40), "disc", "harmonic"),  # red: harmonic tone
    SourceClass("car", 2, (245, 210, 30), "square", "chirp"),  # yellow: rising chirps
    SourceClass("airplane", 4, (215, 50, 215), "triangle", "noise_bursts"),  # magenta: band-limited noise bursts
    SourceClass("boat", 8, (30, 205, 215), "diamond", "clicks"),  # cyan: resonant clicks
)


@dataclass(frozen=True)
class StuffClass:
    stuff_index: int  # value in stuff-NNNN.png: 1..53 = panoptic stuff class 80 + index of the 134-class list
    colour: tuple[int, int, int]


STUFF_CLASSES = {
    "sky": StuffClass(40, (120, 160, 215)),
    "mountain": StuffClass(45, (112, 104, 128)),
    "building": StuffClass(50, (150, 130, 112)),
    "tree": StuffClass(37, (45, 95, 45)),
    "grass": StuffClass(46, (90, 135, 60)),
    "road": StuffClass(21, (105, 105, 110)),
    "sea": StuffClass(24, (40, 80, 130)),
    "sand": StuffClass(23, (205, 185, 140)),
    "snow": StuffClass(26, (232, 235, 242)),
}
GROUNDS = ("grass", "road", "sea", "sand", "snow")
THINGS_NONE = 80  # things value of a pixel that is no thing
STUFF_UNDER_THING = 0
STUFF_VOID = 54
NADIR_VOID_DEG = -72.0  # below this elevation the camera mount hides the scene (void)

# UCF101 class directory (CamelCase) and HMDB51 class name (lower case) of each motion.
ACTION_CLASSES = (("MoveLeft", "move_left"), ("MoveRight", "move_right"), ("Expand", "expand"),
                  ("Rotate", "rotate"), ("Bounce", "bounce"))

# --------------------------------------------------------------------------------------------------------------------
# Presets


@dataclass(frozen=True)
class Preset:
    train_segments: int
    test_segments: int
    unlisted_segments: int  # segments of ids in neither split list (the real segments.txt has such ids)
    max_segments_per_id: int
    segment_seconds: float
    equirect_size: tuple[int, int]  # (width, height), 2:1
    video_fps: int
    audio_rate: int
    segmentation_fps: int  # spec §2.1: 4; divides video_fps (maps are every k-th rendered frame)
    action_groups: int  # UCF "gXX" groups / HMDB actors; folds hold out different groups
    action_clips_per_group: int
    action_frames: int
    action_fps: int
    action_size: tuple[int, int]  # (width, height)


PRESETS = {
    "tiny": Preset(train_segments=4, test_segments=3, unlisted_segments=1, max_segments_per_id=2,
                   segment_seconds=2.0, equirect_size=(128, 64), video_fps=16, audio_rate=24000, segmentation_fps=4,
                   action_groups=4, action_clips_per_group=1, action_frames=16, action_fps=25, action_size=(80, 60)),
    # Sized after the prototype of demo-feasibility.md (400 train / 150 test scenes).
    "demo": Preset(train_segments=400, test_segments=150, unlisted_segments=6, max_segments_per_id=3,
                   segment_seconds=3.0, equirect_size=(160, 80), video_fps=16, audio_rate=24000, segmentation_fps=4,
                   action_groups=8, action_clips_per_group=4, action_frames=32, action_fps=25, action_size=(80, 60)),
}

# Independent random streams, so that e.g. adding a segment never changes the sounds of the others.
_STREAM_IDS, _STREAM_BACKGROUND, _STREAM_SCENE, _STREAM_AUDIO, _STREAM_UCF, _STREAM_HMDB = range(6)


def _rng(seed: int, stream: int, *index: int) -> np.random.Generator:
    return np.random.default_rng([seed, stream, *index])


# --------------------------------------------------------------------------------------------------------------------
# Scene description (sampled in the main process; workers only render it)


@dataclass(frozen=True)
class Landmark:
    kind: str  # "building" or "tree"
    azimuth: float  # rad, centre
    width: float  # rad
    height: float  # rad above the horizon
    colour: tuple[int, int, int]


@dataclass(frozen=True)
class Background:
    ground: str
    mountains: tuple[tuple[float, float], ...]  # (amplitude rad, phase) of azimuth harmonics 1, 2, ...
    landmarks: tuple[Landmark, ...]
    clouds: tuple[tuple[float, float, float, float], ...]  # (azimuth, elevation, half-width, half-height) rad
    ground_tile: float  # checker size on the ground plane, in camera heights


@dataclass(frozen=True)
class MovingObject:
    class_index: int  # into SOURCE_CLASSES
    radius: float  # angular radius, rad
    azimuth: float  # at t = 0, rad
    azimuth_speed: float  # rad/s
    elevation: float  # centre of the vertical oscillation, rad
    elevation_amplitude: float  # rad
    elevation_frequency: float  # Hz
    elevation_phase: float  # rad
    gain: float  # RMS of the emitted sound
    sound: dict = field(default_factory=dict)  # parameters of its class sound


@dataclass(frozen=True)
class Segment:
    video_id: str
    start: int  # T, seconds (file name {ID}-{T})
    split: str  # "train", "test" or "unlisted"
    index: int  # position in the plan, seeds this segment's streams
    background: Background
    objects: tuple[MovingObject, ...]

    @property
    def key(self) -> str:
        return f"{self.video_id}-{self.start}"


def object_directions(obj: MovingObject, times) -> tuple[np.ndarray, np.ndarray]:
    """Direction (azimuth, elevation) in radians of ``obj`` at ``times`` (s, any shape); azimuth wrapped to [−π, π)."""
    times = np.asarray(times, dtype=np.float64)
    azimuth = np.mod(obj.azimuth + obj.azimuth_speed * times + math.pi, 2 * math.pi) - math.pi
    elevation = obj.elevation + obj.elevation_amplitude * np.sin(
        2 * math.pi * obj.elevation_frequency * times + obj.elevation_phase)
    return azimuth, elevation


def _unit_vectors(azimuth, elevation) -> np.ndarray:
    """(..., 3) directions in the X front, Y left, Z up frame."""
    cos_el = np.cos(elevation)
    return np.stack([cos_el * np.cos(azimuth), cos_el * np.sin(azimuth), np.sin(elevation)], axis=-1)


def _sample_background(rng: np.random.Generator) -> Background:
    mountains = tuple((float(rng.uniform(0.01, 0.07)), float(rng.uniform(0, 2 * math.pi))) for _ in range(4))
    count = int(rng.integers(3, 6))
    # Landmarks at well separated azimuths: a jittered even spread.
    offsets = rng.uniform(0, 2 * math.pi) + 2 * math.pi * (np.arange(count) + rng.uniform(-0.2, 0.2, count)) / count
    landmarks = []
    for azimuth in offsets:
        kind = "building" if rng.random() < 0.6 else "tree"
        base = np.array(STUFF_CLASSES[kind].colour, dtype=np.float64)
        colour = tuple(int(c) for c in np.clip(base * rng.uniform(0.75, 1.2, 3), 0, 255))
        landmarks.append(Landmark(kind, float(np.mod(azimuth + math.pi, 2 * math.pi) - math.pi),
                                  float(np.radians(rng.uniform(8, 22))), float(np.radians(rng.uniform(8, 28))),
                                  colour))
    clouds = tuple((float(rng.uniform(-math.pi, math.pi)), float(np.radians(rng.uniform(35, 70))),
                    float(np.radians(rng.uniform(10, 30))), float(np.radians(rng.uniform(3, 7))))
                   for _ in range(int(rng.integers(2, 6))))
    return Background(str(GROUNDS[rng.integers(len(GROUNDS))]), mountains, tuple(landmarks), clouds,
                      float(rng.uniform(0.5, 1.5)))


def _sample_sound(sound: str, rng: np.random.Generator) -> dict:
    if sound == "harmonic":
        return {"f0": rng.uniform(180, 360), "vibrato_hz": rng.uniform(4, 6), "tremolo_hz": rng.uniform(0.5, 2)}
    if sound == "chirp":
        return {"low_hz": rng.uniform(500, 900), "high_hz": rng.uniform(1800, 3000), "period_s": rng.uniform(0.25, 0.5)}
    if sound == "noise_bursts":
        return {"low_hz": rng.uniform(800, 2000), "rate_hz": rng.uniform(3, 6), "burst_s": rng.uniform(0.06, 0.12)}
    if sound == "clicks":
        return {"rate_hz": rng.uniform(6, 12), "resonance_hz": rng.uniform(2500, 5000)}
    raise ValueError(f"unknown sound {sound!r}")


def _min_separation(objects: list[MovingObject], times: np.ndarray) -> float:
    """Smallest gap (rad) between the outlines of any two objects over ``times``, outlines taken generously."""
    gap = math.inf
    for i, a in enumerate(objects):
        for b in objects[i + 1:]:
            cosine = np.sum(_unit_vectors(*object_directions(a, times)) * _unit_vectors(*object_directions(b, times)),
                            axis=-1)
            distance = np.arccos(np.clip(cosine, -1, 1)).min()
            gap = min(gap, distance - 1.3 * (a.radius + b.radius))
    return gap


def _sample_objects(rng: np.random.Generator, count: int, duration: float) -> tuple[MovingObject, ...]:
    """``count`` objects of distinct classes that never touch during the segment (bounded rejection sampling, then a
    deterministic fallback: the same objects standing still, evenly spread in azimuth)."""
    classes = rng.choice(len(SOURCE_CLASSES), size=count, replace=False)
    times = np.linspace(0, duration, 25)
    for _ in range(50):
        objects = [MovingObject(
            class_index=int(c), radius=float(np.radians(rng.uniform(10, 15))),
            azimuth=float(rng.uniform(-math.pi, math.pi)), azimuth_speed=float(np.radians(rng.uniform(-20, 20))),
            elevation=float(np.radians(rng.uniform(-18, 18))), elevation_amplitude=float(np.radians(rng.uniform(0, 8))),
            elevation_frequency=float(rng.uniform(0.2, 0.5)), elevation_phase=float(rng.uniform(0, 2 * math.pi)),
            gain=float(rng.uniform(0.06, 0.12)),
            sound={k: float(v) for k, v in _sample_sound(SOURCE_CLASSES[c].sound, rng).items()}) for c in classes]
        if _min_separation(objects, times) > np.radians(5):
            return tuple(objects)
    return tuple(MovingObject(**{**asdict(o), "azimuth": -math.pi + 2 * math.pi * (i + 0.5) / count,
                                 "azimuth_speed": 0.0, "elevation_amplitude": 0.0})
                 for i, o in enumerate(objects))


def _video_ids(rng: np.random.Generator, count: int) -> list[str]:
    """``count`` distinct 11-character YouTube-like ids; the first ones start with '-', contain '_' and '-' (real
    ids do, spec §2.1), so parsers that split on '-' are caught."""
    alphabet = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"))
    forced = [(0, "-"), (4, "_"), (6, "-")]
    ids: list[str] = []
    while len(ids) < count:
        chars = list(rng.choice(alphabet, 11))
        if len(ids) < len(forced):
            position, char = forced[len(ids)]
            chars[position] = char
        candidate = "".join(chars)
        if candidate not in ids:
            ids.append(candidate)
    return ids


def plan_yt360(preset: Preset, seed: int) -> list[Segment]:
    """Every segment of the YT-360 part, in a fixed order: ids, segment start times T, split, background (shared by
    the segments of an id: same place, other moments) and objects. Pure function of (preset, seed)."""
    rng = _rng(seed, _STREAM_IDS)
    splits = (("train", preset.train_segments), ("test", preset.test_segments),
              ("unlisted", preset.unlisted_segments))
    # Segments per id: the first id of each split has several (so `sampling: video` and `clip` differ), the
    # others a random number.
    layout = []
    for split, total in splits:
        while total > 0:
            first = not layout or layout[-1][0] != split
            count = min(total, preset.max_segments_per_id if first else int(rng.integers(1, preset.max_segments_per_id + 1)))
            layout.append((split, count))
            total -= count
    ids = _video_ids(rng, len(layout))
    segments = []
    for id_index, ((split, count), video_id) in enumerate(zip(layout, ids)):
        background = _sample_background(_rng(seed, _STREAM_BACKGROUND, id_index))
        starts = np.cumsum(rng.integers(10, 60, count)) + int(rng.integers(0, 120))
        for start in starts:
            index = len(segments)
            scene_rng = _rng(seed, _STREAM_SCENE, index)
            objects = _sample_objects(scene_rng, 1 + index % 3, preset.segment_seconds)
            segments.append(Segment(video_id, int(start), split, index, background, objects))
    return segments


# --------------------------------------------------------------------------------------------------------------------
# Rendering the equirectangular frames and label maps


def _equirect_grid(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Azimuth and elevation (H, W) of the pixel centres, in the convention of `utils.spherical`."""
    azimuth = math.pi * (1 - 2 * (np.arange(width) + 0.5) / width)
    elevation = math.pi / 2 * (1 - 2 * (np.arange(height) + 0.5) / height)
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


def _shape_mask(shape: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
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
    pixels = _unit_vectors(grid_azimuth, grid_elevation).astype(np.float32)  # (H, W, 3)
    for obj in segment.objects:
        source = SOURCE_CLASSES[obj.class_index]
        azimuth, elevation = object_directions(obj, times)
        # Only the rows the object can reach (every shape lies within 1.25 radii of its centre).
        reach = (grid_elevation[:, 0] > elevation.min() - 1.3 * obj.radius) & \
                (grid_elevation[:, 0] < elevation.max() + 1.3 * obj.radius)
        rows = slice(np.argmax(reach), len(reach) - np.argmax(reach[::-1]))
        centre = _unit_vectors(azimuth, elevation).astype(np.float32)  # (T, 3)
        east = np.stack([-np.sin(azimuth), np.cos(azimuth), np.zeros_like(azimuth)], axis=-1).astype(np.float32)
        north = np.cross(centre, east)
        depth = pixels[rows] @ centre.T  # (h, W, T): gnomonic projection onto the object's tangent plane
        scale = math.tan(obj.radius) * np.maximum(depth, 1e-6)
        inside = _shape_mask(source.shape, (pixels[rows] @ east.T) / scale, (pixels[rows] @ north.T) / scale)
        inside = np.moveaxis(inside & (depth > 0), -1, 0)  # (T, h, W)
        rgb[:, rows][inside] = source.colour
        things[:, rows][inside] = source.coco_index
        stuff[:, rows][inside] = STUFF_UNDER_THING
    return rgb, things, stuff


# --------------------------------------------------------------------------------------------------------------------
# Sound


def _harmonic(p: dict, t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    phase = 2 * math.pi * p["f0"] * (t - 0.01 * np.cos(2 * math.pi * p["vibrato_hz"] * t) / (2 * math.pi * p["vibrato_hz"]))
    tone = sum(np.sin(k * phase) / k for k in range(1, 6))
    return tone * (0.7 + 0.3 * np.sin(2 * math.pi * p["tremolo_hz"] * t))


def _chirp(p: dict, t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    period = p["period_s"]
    tau = np.mod(t, period)
    sweep = p["high_hz"] - p["low_hz"]
    phase = 2 * math.pi * (p["low_hz"] * tau + sweep * tau ** 2 / (2 * period))
    return np.sin(phase) * np.sqrt(np.sin(math.pi * tau / period))


def _noise_bursts(p: dict, t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    rate = 1 / (t[1] - t[0])
    spectrum = np.fft.rfft(rng.standard_normal(len(t)))
    frequency = np.fft.rfftfreq(len(t), 1 / rate)
    spectrum[(frequency < p["low_hz"]) | (frequency > 2.5 * p["low_hz"])] = 0
    noise = np.fft.irfft(spectrum, len(t))
    position = np.mod(t, 1 / p["rate_hz"])
    gate = np.where(position < p["burst_s"], np.sin(math.pi * position / p["burst_s"]) ** 2, 0.0)
    return noise * gate


def _clicks(p: dict, t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    tau = np.mod(t, 1 / p["rate_hz"])
    return np.exp(-tau / 0.004) * np.sin(2 * math.pi * p["resonance_hz"] * tau)


SOUNDS = {"harmonic": _harmonic, "chirp": _chirp, "noise_bursts": _noise_bursts, "clicks": _clicks}
_REFLECTIONS = 6
_MAX_REFLECTION_DELAY_S = 0.04


def _moving_plane_wave(signal: np.ndarray, obj: MovingObject, times: np.ndarray) -> np.ndarray:
    """FOA (4, S) of ``signal`` (S,) emitted by ``obj`` along its track at ``times`` (S,). The encoding gains are
    computed every 10 ms (the objects move less than 0.2° in that time) and interpolated linearly in between."""
    control = np.linspace(times[0], times[-1], max(2, math.ceil((times[-1] - times[0]) / 0.01) + 1))
    azimuth, elevation = object_directions(obj, control)
    gains = encode_foa(torch.ones(len(control), 1, dtype=torch.float64), torch.from_numpy(azimuth),
                       torch.from_numpy(elevation))[:, :, 0].numpy()  # (N, 4)
    return np.stack([np.interp(times, control, gain) for gain in gains.T]) * signal


def synthesize_foa(segment: Segment, duration: float, rate: int, seed: int, reverb: bool = False) -> np.ndarray:
    """The segment's sound field, ambiX FOA float32 (4, S), S = round(duration·rate): each object's class sound
    from its direction at every sample; with ``reverb``, plus a few early reflections of each from fixed random
    directions (delays up to 40 ms, decaying gains)."""
    rng = _rng(seed, _STREAM_AUDIO, segment.index)
    samples = round(duration * rate)
    lead = round(_MAX_REFLECTION_DELAY_S * rate)  # sound emitted before t = 0 reaches the listener via reflections
    times = (np.arange(samples + lead) - lead) / rate
    foa = np.zeros((4, samples))
    for obj in segment.objects:
        sound = SOUNDS[SOURCE_CLASSES[obj.class_index].sound](obj.sound, times, rng)
        sound = obj.gain * sound / np.sqrt(np.mean(sound ** 2))
        foa += _moving_plane_wave(sound[lead:], obj, times[lead:])
        if reverb:
            delays = rng.integers(round(0.004 * rate), lead + 1, _REFLECTIONS)
            for delay in delays:
                azimuth = rng.uniform(-math.pi, math.pi)
                elevation = math.asin(rng.uniform(-1, 1))
                gain = 0.5 * math.exp(-delay / (0.025 * rate))
                delayed = gain * sound[lead - delay:lead - delay + samples]
                foa += encode_foa(torch.from_numpy(delayed), azimuth, elevation).numpy()
    peak = np.abs(foa).max()
    return (foa * min(1.0, 0.9 / peak) if peak > 0 else foa).astype(np.float32)


# --------------------------------------------------------------------------------------------------------------------
# Action clips (UCF101 / HMDB51 layouts): the class is the motion, colours and textures are random


def render_action_clip(motion: int, rng: np.random.Generator, frames: int, fps: int, width: int,
                       height: int) -> np.ndarray:
    """A textured, randomly coloured elongated shape performing motion ``motion`` (index into ACTION_CLASSES) over a
    random smooth background → RGB uint8 (T, H, W, 3)."""
    y, x = np.mgrid[0:height, 0:width] + 0.5
    coarse = rng.uniform(0, 1, (4, 5))
    smooth = np.kron(coarse, np.ones((height // 4 + 1, width // 5 + 1)))[:height, :width]
    colours = rng.uniform(0, 255, (2, 3))
    background = smooth[..., None] * colours[0] + (1 - smooth[..., None]) * colours[1]
    shape = ("disc", "square", "triangle")[rng.integers(3)]
    half_size = rng.uniform(0.14, 0.2) * height
    elongation = rng.uniform(1.6, 2.4)
    body, stripes = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    stripe_period = rng.uniform(0.3, 0.6)
    angle0 = rng.uniform(0, 2 * math.pi)
    t = np.arange(frames) / fps
    progress = t / (frames / fps)
    cx = np.full(frames, rng.uniform(0.35, 0.65) * width)
    cy = np.full(frames, rng.uniform(0.35, 0.65) * height)
    angle = np.full(frames, angle0)
    scale = np.ones(frames)
    name = ACTION_CLASSES[motion][1]
    if name in ("move_left", "move_right"):
        travel = rng.uniform(0.45, 0.65) * width
        direction = -1 if name == "move_left" else 1
        cx = width / 2 + direction * travel * (progress - 0.5)
    elif name == "expand":
        scale = np.exp(np.log(rng.uniform(2.0, 3.0)) * progress) * 0.6
    elif name == "rotate":
        angle = angle0 + rng.choice([-1, 1]) * rng.uniform(1.5, 2.5) * math.pi * t
    elif name == "bounce":
        bounces = rng.uniform(1.5, 2.5)
        cy = 0.75 * height - 0.45 * height * np.abs(np.sin(math.pi * bounces * progress))
    clip = np.empty((frames, height, width, 3), dtype=np.uint8)
    for n in range(frames):
        cos_a, sin_a = math.cos(angle[n]), math.sin(angle[n])
        dx, dy = x - cx[n], y - cy[n]
        u = (cos_a * dx + sin_a * dy) / (half_size * scale[n] * elongation)
        v = (-sin_a * dx + cos_a * dy) / (half_size * scale[n])
        inside = _shape_mask(shape, u, v)
        striped = np.mod(u / stripe_period, 1) < 0.5
        frame = background.copy()
        frame[inside] = np.where(striped[inside][:, None], stripes, body)
        clip[n] = np.clip(np.rint(frame), 0, 255)
    return clip


def _ucf_folds(groups: int) -> list[set[int]]:
    """Test groups of folds 1..3: like the official split (groups 1–7, 8–14, 15–21 of 25), scaled to ``groups``."""
    block = max(1, groups * 7 // 25)
    return [set(range(f * block + 1, (f + 1) * block + 1)) for f in range(3)]


@dataclass(frozen=True)
class ActionClip:
    dataset: str  # "ucf101" or "hmdb51"
    motion: int
    group: int  # 1-based
    clip: int  # 1-based
    index: int  # position in its dataset's list, seeds the clip

    @property
    def relative_path(self) -> str:
        camel, lower = ACTION_CLASSES[self.motion]
        if self.dataset == "ucf101":
            return f"data/{camel}/v_{camel}_g{self.group:02d}_c{self.clip:02d}.avi"
        return f"videos/{lower}/{self.video_name}"

    @property
    def video_name(self) -> str:  # HMDB51
        return f"synth_g{self.group:02d}_{ACTION_CLASSES[self.motion][1]}_u_nm_np1_fr_med_{self.clip - 1}.avi"


def plan_actions(preset: Preset, dataset: str) -> list[ActionClip]:
    keys = [(motion, group, clip) for motion in range(len(ACTION_CLASSES))
            for group in range(1, preset.action_groups + 1) for clip in range(1, preset.action_clips_per_group + 1)]
    return [ActionClip(dataset, *key, index) for index, key in enumerate(keys)]


def _action_split_files(preset: Preset, dataset: str, clips: list[ActionClip]) -> dict[str, str]:
    """Official split files (spec §9): path relative to the dataset root → text."""
    folds = _ucf_folds(preset.action_groups)
    if dataset == "ucf101":
        files = {"ucfTrainTestlist/classInd.txt": "".join(f"{i + 1} {camel}\n"
                                                         for i, (camel, _) in enumerate(ACTION_CLASSES))}
        for f, test_groups in enumerate(folds, start=1):
            entries = [(c, c.relative_path.removeprefix("data/")) for c in clips]
            files[f"ucfTrainTestlist/trainlist0{f}.txt"] = "".join(
                f"{path} {c.motion + 1}\n" for c, path in entries if c.group not in test_groups)
            files[f"ucfTrainTestlist/testlist0{f}.txt"] = "".join(
                f"{path}\n" for c, path in entries if c.group in test_groups)
        return files
    files = {"classes.txt": "".join(f"{lower}\n" for _, lower in sorted(ACTION_CLASSES, key=lambda c: c[1]))}
    for motion, (_, lower) in enumerate(ACTION_CLASSES):
        for f, test_groups in enumerate(folds, start=1):
            # Like HMDB: each fold marks every video 1 (train), 2 (test) or 0 (unused); the unused group follows
            # the test groups, so the three folds differ in all three roles.
            unused = max(test_groups) % preset.action_groups + 1
            lines = []
            for c in clips:
                if c.motion == motion:
                    role = 2 if c.group in test_groups else 0 if c.group == unused else 1
                    lines.append(f"{c.video_name} {role} \n")
            files[f"ucfTrainTestlist/{lower}_test_split{f}.txt"] = "".join(lines)
    return files


# --------------------------------------------------------------------------------------------------------------------
# Writing files: under a temporary name, renamed when complete


def _partial(path: str) -> str:
    return f"{path}.partial"


def _write_text(path: str, text: str) -> None:
    """Write ``text`` atomically, and not at all when the file already holds it (keeps mtimes for index caches)."""
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            if f.read() == text:
                return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(_partial(path), "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    os.replace(_partial(path), path)


def _encode_video(target: str, frames: np.ndarray, fps: int, codec: str) -> None:
    if codec == "h264":
        container = av.open(target, "w", format="mp4")
        stream = container.add_stream("libx264", rate=fps,
                                      options={"preset": "veryfast", "crf": "18", "g": str(fps)})
    else:
        container = av.open(target, "w", format="avi")
        stream = container.add_stream("mpeg4", rate=fps)
        stream.codec_tag = "XVID"
        stream.bit_rate = 600_000
    stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
    stream.codec_context.thread_count = 1  # one process per file already
    with container:
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode(None))


def _digest(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.md5(f.read()).hexdigest()


def _write_video(path: str, frames: np.ndarray, fps: int, codec: str) -> None:
    """frames uint8 (T, H, W, 3). codec "h264": MP4, keyframe every second (fast seeks); "mpeg4": AVI tagged XVID.

    libx264 is not bit-reproducible on its own here, even single-threaded: an encode right after other work in the
    process (the first one, or one after the AAC encoder) sometimes differs by codec noise, and 9 of 550 demo files
    differed between two generations. Encoding back to back until two results agree gives the same file every time.
    """
    os.makedirs(os.path.dirname(path), exist_ok=True)
    partial = _partial(path)
    _encode_video(partial, frames, fps, codec)
    if codec == "h264":
        previous = _digest(partial)
        for _ in range(3):
            again = f"{partial}.again"
            _encode_video(again, frames, fps, codec)
            digest = _digest(again)
            os.replace(again, partial)
            if digest == previous:
                break
            previous = digest
    os.replace(partial, path)


def _write_foa(path: str, foa: np.ndarray, rate: int) -> None:
    """FOA float32 (4, S) → AAC in M4A, channels in the given order. Layout "4.0" is what the original's writer used
    (spec §2.1); nothing is resampled or remixed here, and readers should take channels in stored order."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with av.open(_partial(path), "w", format="ipod") as container:
        # No perceptual noise substitution or intensity stereo (both destroy the coherence between channels that
        # carries the direction); no TNS (it doubled the error of channel Y). The "fast" coder is ~5× faster than
        # the default; at 64 kbit/s per channel the decoded error is ~2 % RMS.
        stream = container.add_stream("aac", rate=rate, layout="4.0", options={
            "aac_coder": "fast", "aac_pns": "0", "aac_is": "0", "aac_tns": "0"})
        stream.bit_rate = 256_000
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(foa), format="fltp", layout="4.0")
        frame.sample_rate, frame.pts = rate, 0
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    os.replace(_partial(path), path)


def _write_label_maps(directory: str, things: np.ndarray, stuff: np.ndarray) -> None:
    """things/stuff uint8 (N, H, W) → directory/{things,stuff}-NNNN.png (grayscale), the directory renamed whole."""
    partial = _partial(directory)
    shutil.rmtree(partial, ignore_errors=True)
    os.makedirs(partial)
    for n in range(len(things)):
        Image.fromarray(things[n], mode="L").save(os.path.join(partial, f"things-{n:04d}.png"), compress_level=1)
        Image.fromarray(stuff[n], mode="L").save(os.path.join(partial, f"stuff-{n:04d}.png"), compress_level=1)
    os.replace(partial, directory)


# --------------------------------------------------------------------------------------------------------------------
# Jobs (one output group each; run in worker processes) and the driver


@dataclass(frozen=True)
class _SegmentJob:
    root: str
    segment: Segment
    preset: Preset
    seed: int
    reverb: bool

    def outputs(self) -> list[str]:
        base = os.path.join(self.root, "yt360")
        return [os.path.join(base, "segmentation", self.segment.key),
                os.path.join(base, "audio", f"{self.segment.key}.m4a"),
                os.path.join(base, "video", f"{self.segment.key}.mp4")]

    def run(self) -> None:
        """Write the outputs that do not exist yet (those that exist are complete)."""
        preset, segment = self.preset, self.segment
        segmentation_dir, audio_path, video_path = self.outputs()
        width, height = preset.equirect_size
        duration = preset.segment_seconds
        if not os.path.exists(audio_path):
            _write_foa(audio_path, synthesize_foa(segment, duration, preset.audio_rate, self.seed, self.reverb),
                       preset.audio_rate)
        if os.path.exists(segmentation_dir) and os.path.exists(video_path):
            return
        frames, things, stuff = render_equirect(
            segment, np.arange(round(duration * preset.video_fps)) / preset.video_fps, width, height)
        if not os.path.exists(segmentation_dir):
            # Map n shows time n / segmentation_fps (spec §2.1): every (video_fps / segmentation_fps)-th frame.
            step = preset.video_fps // preset.segmentation_fps
            _write_label_maps(segmentation_dir, things[::step], stuff[::step])
        if not os.path.exists(video_path):
            _write_video(video_path, frames, preset.video_fps, "h264")


@dataclass(frozen=True)
class _ActionJob:
    root: str
    clip: ActionClip
    preset: Preset
    seed: int

    def outputs(self) -> list[str]:
        return [os.path.join(self.root, self.clip.dataset, self.clip.relative_path)]

    def run(self) -> None:
        width, height = self.preset.action_size
        stream = _STREAM_UCF if self.clip.dataset == "ucf101" else _STREAM_HMDB
        frames = render_action_clip(self.clip.motion, _rng(self.seed, stream, self.clip.index),
                                    self.preset.action_frames, self.preset.action_fps, width, height)
        _write_video(self.outputs()[0], frames, self.preset.action_fps, "mpeg4")


def _run_job(job) -> None:
    job.run()


def _init_worker() -> None:
    torch.set_num_threads(1)


def _tracks_json(segments: list[Segment], preset: Preset) -> str:
    """Ground truth, one segment per line: objects with class, colour, shape, sound and their direction track
    (degrees, project convention) at the video frame times."""
    times = np.arange(round(preset.segment_seconds * preset.video_fps)) / preset.video_fps
    width, height = preset.equirect_size
    lines = []
    for segment in segments:
        objects = []
        for obj in segment.objects:
            source = SOURCE_CLASSES[obj.class_index]
            azimuth, elevation = object_directions(obj, times)
            objects.append({
                "class": source.name, "coco_index": source.coco_index, "colour": list(source.colour),
                "shape": source.shape, "sound": source.sound, "radius_deg": round(math.degrees(obj.radius), 3),
                "azimuth_deg": [round(a, 3) for a in np.degrees(azimuth).tolist()],
                "elevation_deg": [round(e, 3) for e in np.degrees(elevation).tolist()]})
        background = segment.background
        entry = {
            "id": segment.video_id, "start": segment.start, "split": segment.split,
            "duration": preset.segment_seconds, "video_fps": preset.video_fps, "audio_rate": preset.audio_rate,
            "segmentation_fps": preset.segmentation_fps, "width": width, "height": height,
            "ground": background.ground,
            "landmarks": [{"kind": m.kind, "azimuth_deg": round(math.degrees(m.azimuth), 3)}
                          for m in background.landmarks],
            "times": [round(t, 6) for t in times.tolist()], "objects": objects}
        lines.append(f"{json.dumps(segment.key)}: {json.dumps(entry, separators=(',', ':'))}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def _yt360_lists(segments: list[Segment]) -> dict[str, str]:
    by_id: dict[str, list[Segment]] = {}
    for segment in segments:
        by_id.setdefault(segment.video_id, []).append(segment)
    lists = {split: "".join(f"{vid}\n" for vid, segs in by_id.items() if segs[0].split == split)
             for split in ("train", "test")}
    return {"train.txt": lists["train"], "test.txt": lists["test"],
            "segments.txt": "".join(f"{vid} {','.join(str(s.start) for s in segs)}\n" for vid, segs in by_id.items())}


def _check_manifest(root: str, params: dict) -> None:
    path = os.path.join(root, "synthetic.json")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            existing = json.load(f)
        if existing.get("params") != params:
            raise DataError(f"{root}: holds synthetic data made with {existing.get('params')}, not {params}; "
                            "choose another root or delete it")


def _write_audio_stats(root: str, log) -> None:
    """The log-mel statistics file that the demo configs name (the audio recipe of `DEMO_CONFIG`), next to the YT-360
    data, computed as tools/compute_audio_stats.py does (`datasets.audio_stats.make_stats`); kept when present."""
    from datasets import SCHEMA
    from datasets.audio_stats import make_stats, stats_path
    from utils.config import Schema, read_config, validate_config

    raw, origins = read_config(DEMO_CONFIG, [f"dataset.root={os.path.join(root, 'yt360')}"])
    data = validate_config({"dataset": raw["dataset"]}, origins, DEMO_CONFIG, schema=Schema(dataset=SCHEMA))["dataset"]
    if not os.path.isfile(stats_path(data)):
        log(f"synthetic data: log-mel statistics {stats_path(data)}")
        make_stats(data, log=log)


def generate(root: str = DEFAULT_ROOT, preset: str = "demo", seed: int = 0, workers: int | None = None,
             reverb: bool = False, log=print) -> dict:
    """Write the synthetic YT-360, UCF101 and HMDB51 sets under ``root`` (layout in the module docstring).

    Deterministic in (preset, seed, reverb) (libx264 needs help for that, see `_write_video`); files that already
    exist are complete and are skipped, so a second run only re-checks. ``workers`` processes encode files in parallel
    (default: all cores; 1 = in this process).
    Returns counts: {"written", "skipped", "seconds"}.
    """
    if preset not in PRESETS:
        raise DataError(f"unknown synthetic preset {preset!r}; choose one of {sorted(PRESETS)}")
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be at least 1, not {workers}")
    config = PRESETS[preset]
    started = time.perf_counter()
    params = {"format_version": FORMAT_VERSION, "preset": preset, "seed": int(seed), "reverb": bool(reverb)}
    _check_manifest(root, params)
    os.makedirs(root, exist_ok=True)
    manifest = os.path.join(root, "synthetic.json")
    _write_text(manifest, json.dumps({"params": params, "complete": False}, indent=1) + "\n")

    segments = plan_yt360(config, seed)
    jobs = [_SegmentJob(root, s, config, seed, reverb) for s in segments]
    texts = {os.path.join(root, "yt360", name): text for name, text in _yt360_lists(segments).items()}
    texts[os.path.join(root, "yt360", "tracks.json")] = _tracks_json(segments, config)
    for dataset in ("ucf101", "hmdb51"):
        clips = plan_actions(config, dataset)
        jobs += [_ActionJob(root, c, config, seed) for c in clips]
        texts.update({os.path.join(root, dataset, name): text
                      for name, text in _action_split_files(config, dataset, clips).items()})

    pending = [job for job in jobs if not all(os.path.exists(p) for p in job.outputs())]
    workers = min(workers or os.cpu_count() or 1, max(1, len(pending)))
    if pending:
        log(f"synthetic data ({preset}, seed {seed}): writing {len(pending)} of {len(jobs)} items to {root} "
            f"with {workers} worker(s)")
    if workers == 1:
        for job in pending:
            job.run()
    else:
        # fork: workers inherit the imported modules (spawn would import torch again in each)
        with ProcessPoolExecutor(workers, mp_context=get_context("fork"), initializer=_init_worker) as pool:
            list(pool.map(_run_job, pending, chunksize=4))
    for path, text in texts.items():
        _write_text(path, text)
    _write_audio_stats(root, log)
    _write_text(manifest, json.dumps({"params": params, "complete": True}, indent=1) + "\n")
    return {"written": len(pending), "skipped": len(jobs) - len(pending),
            "seconds": round(time.perf_counter() - started, 2)}
