"""Pure building blocks of avsa (no knowledge of datasets, models or scripts)."""

__version__ = "0.1.0"
