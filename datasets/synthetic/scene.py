"""The synthetic scenes as data: object and background classes, size presets, and the plan of every YT-360 segment
(ids, start times, split, background, moving objects), a pure function of (preset, seed) made in the main process."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from utils.seeding import make_generator

# --------------------------------------------------------------------------------------------------------------------
# Classes


@dataclass(frozen=True)
class SourceClass:
    name: str  # COCO thing class
    coco_index: int  # value in things-NNNN.png
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
    segmentation_fps: int  # 4 as in the real set; divides video_fps (maps are every k-th rendered frame)
    action_groups: int  # UCF "gXX" groups / HMDB actors; folds hold out different groups
    action_clips_per_group: int
    action_frames: int
    action_fps: int
    action_size: tuple[int, int]  # (width, height)


PRESETS = {
    "tiny": Preset(train_segments=4, test_segments=3, unlisted_segments=1, max_segments_per_id=2,
                   segment_seconds=2.0, equirect_size=(128, 64), video_fps=16, audio_rate=24000, segmentation_fps=4,
                   action_groups=4, action_clips_per_group=1, action_frames=16, action_fps=25, action_size=(80, 60)),
    # Sized after a CPU prototype of the demo (400 train / 150 test scenes).
    "demo": Preset(train_segments=400, test_segments=150, unlisted_segments=6, max_segments_per_id=3,
                   segment_seconds=3.0, equirect_size=(160, 80), video_fps=16, audio_rate=24000, segmentation_fps=4,
                   action_groups=8, action_clips_per_group=4, action_frames=32, action_fps=25, action_size=(80, 60)),
}

# Independent random streams, so that e.g. adding a segment never changes the sounds of the others.
STREAM_IDS, STREAM_BACKGROUND, STREAM_SCENE, STREAM_AUDIO, STREAM_UCF, STREAM_HMDB = range(6)


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


def unit_vectors(azimuth, elevation) -> np.ndarray:
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
            cosine = np.sum(unit_vectors(*object_directions(a, times)) * unit_vectors(*object_directions(b, times)),
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
    ids do), so parsers that split on '-' are caught."""
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
    rng = make_generator(seed, STREAM_IDS, mode="numpy")
    splits = (("train", preset.train_segments), ("test", preset.test_segments),
              ("unlisted", preset.unlisted_segments))
    # Segments per id: the first id of each split has several (so `sampling: video` and `clip` differ), the
    # others a random number.
    layout = []
    for split, total in splits:
        while total > 0:
            first = not layout or layout[-1][0] != split
            most = preset.max_segments_per_id
            count = min(total, most if first else int(rng.integers(1, most + 1)))
            layout.append((split, count))
            total -= count
    ids = _video_ids(rng, len(layout))
    segments = []
    for id_index, ((split, count), video_id) in enumerate(zip(layout, ids)):
        background = _sample_background(make_generator(seed, STREAM_BACKGROUND, id_index, mode="numpy"))
        starts = np.cumsum(rng.integers(10, 60, count)) + int(rng.integers(0, 120))
        for start in starts:
            index = len(segments)
            scene_rng = make_generator(seed, STREAM_SCENE, index, mode="numpy")
            objects = _sample_objects(scene_rng, 1 + index % 3, preset.segment_seconds)
            segments.append(Segment(video_id, int(start), split, index, background, objects))
    return segments
