"""tools/reproduce_tables.py in parts: ``suites`` (the tables as data) → ``planner`` (jobs) → ``runner``
(subprocesses) → ``render`` (the --dry-run listing and TABLES.md)."""

import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repository: scripts run here
