"""tools/prepare_yt360.py in parts: ``source`` (segment lists, the sources of your own files, train/test lists, the
checks of a source: streams, channels, projection) → ``cut`` (one segment: H.264 video, FOA as AAC, its length
checks) → ``run`` (the worker pool, progress, resume, manifest.json and problems.txt). What it writes and checks:
docs/data.md, "Preparing YT-360"."""
