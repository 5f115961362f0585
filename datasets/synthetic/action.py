"""The synthetic action clips (UCF101 and HMDB51 layouts): the class is the motion of a randomly coloured and
textured shape; plans and official-style split files."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from datasets.synthetic.render import shape_mask
from datasets.synthetic.scene import Preset

# UCF101 class directory (CamelCase) and HMDB51 class name (lower case) of each motion.
# UCF101 class directory (CamelCase) and HMDB51 class name (lower case) of each motion.
ACTION_CLASSES = (("MoveLeft", "move_left"), ("MoveRight", "move_right"), ("Expand", "expand"),
                  ("Rotate", "rotate"), ("Bounce", "bounce"))


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
        inside = shape_mask(shape, u, v)
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


def action_split_files(preset: Preset, dataset: str, clips: list[ActionClip]) -> dict[str, str]:
    """The official-style split files: path relative to the dataset root → text."""
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
