"""tools/gpu_check.py in parts: ``common`` (sizes, targets, the config, shared helpers) → one module per part
(``media``, ``gpu_tests``, ``train``, ``loader``, ``precision``) → ``check`` (budget, one process per part, targets)
→ ``render`` (the Markdown section); ``process`` runs child processes until a deadline."""

import os

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repository: parts run here
