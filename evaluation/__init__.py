"""What the four eval-*.py scripts share, on top of the engine (imports flow downward only).

* ``evaluation.schema``: the eval-config sections (``benchmark``), registered with ``utils.config``.
* ``evaluation.metrics``: top-k, Clip@k / Video@k, confusion-matrix pixel accuracy and mIoU.
"""
