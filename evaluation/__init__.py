"""What the four eval-*.py scripts share, on top of the engine (imports flow downward only).

* ``evaluation.schema``: the ``benchmark`` section and the schema of a whole eval config (``EVAL_SCHEMA``).
* ``evaluation.metrics``: top-k, Clip@k / Video@k, confusion-matrix pixel accuracy and mIoU.
"""
