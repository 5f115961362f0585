"""The project's own error types.

Scripts and tools catch `AvsaError` (and only it) in `main()` and print its message as ONE line on
stderr with exit code 2 (configuration problems) or 1 (data/runtime problems). Anything else is a bug
and keeps its traceback.
"""


class AvsaError(Exception):
    """Base class: a problem the user can fix, reported without a traceback."""

    exit_code = 1


class ConfigError(AvsaError):
    """A config file, key or value is wrong. Message: '<file>: <dotted.key>: <what is wrong>'."""

    exit_code = 2


class CheckpointError(AvsaError):
    """A checkpoint is missing, corrupt, foreign or unsafe."""

    exit_code = 1


class DataError(AvsaError):
    """A media file or dataset cannot be used (bad file, too many bad samples, wrong classes)."""

    exit_code = 1
