"""tools/visualize.py in parts: ``data`` (what the figures read: a dataset sample, a model's localisation map, a
segmentation run's predictions, a run's scalars) → ``panels`` (sizes, saving, shared matplotlib panels) → the drawers:
``method`` (the method drawn on a sample), ``scene`` (a 360° sample, a localisation map), ``results`` (a segmentation
benchmark's predictions, training curves)."""

import matplotlib

matplotlib.use("Agg")  # every figure is drawn off-screen into a PNG
