"""Pre-emption: SIGTERM / SIGUSR1 ask the run to finish its current step, write a checkpoint and exit.

Clusters send SIGTERM (SLURM: also SIGUSR1 with ``--signal``) some time before killing a job; torchrun forwards
SIGTERM to its workers. The handler only records the request; the training loop checks it after every step
(across ranks, so all ranks stop at the same step).
"""

from __future__ import annotations

import signal
import threading

from utils.errors import AvsaError

STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1)


class RunInterrupted(AvsaError):
    """The run stopped on a signal after writing a checkpoint; rerunning the same command resumes it."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.exit_code = 128 + signum  # shell convention for "terminated by signal N"


class StopRequest:
    """Context manager installing the handlers; ``signum`` is the first signal received (0: none)."""

    def __init__(self):
        self.signum = 0
        self._previous = {}

    def _handle(self, signum, frame) -> None:
        self.signum = self.signum or signum

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():  # signal handlers only work there
            for sig in STOP_SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()
