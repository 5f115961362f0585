"""The embedded synthetic dataset: procedurally rendered 360° scenes with ambisonic sound, and short action clips.

Nothing can be downloaded, so every demo and test trains and evaluates on data made here, deterministically from a
seed: `generate(root, preset, seed)` writes ``root/yt360/`` (the YT-360 layout with label maps and ground-truth tracks),
``root/ucf101/`` and ``root/hmdb51/``. What is written and how: docs/data.md ("The synthetic dataset").
Modules: `scene` (classes, presets, the plan), `render` (frames, label maps), `sound` (FOA), `action` (action clips),
`encode` (files), `generate` (the driver).
"""

from datasets.synthetic.action import ACTION_CLASSES, plan_actions, render_action_clip
from datasets.synthetic.generate import DEFAULT_ROOT, generate
from datasets.synthetic.render import render_equirect
from datasets.synthetic.scene import PRESETS, SOURCE_CLASSES, STUFF_CLASSES, Preset, object_directions, plan_yt360
from datasets.synthetic.sound import synthesize_foa

__all__ = ["ACTION_CLASSES", "DEFAULT_ROOT", "PRESETS", "SOURCE_CLASSES", "STUFF_CLASSES", "Preset", "generate",
           "object_directions", "plan_actions", "plan_yt360", "render_action_clip", "render_equirect", "synthesize_foa"]
