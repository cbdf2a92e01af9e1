"""Waiting for the warehouse: this process's writers take turns; other processes' locks are
waited out within an allowance per run, each wait reported."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

__all__ = ["LockWaits", "process_write_lock"]

logger = logging.getLogger(__name__)

# Writers in one process take turns: DuckDB would otherwise abort one of two transactions that
# delete from the same table at once. Other processes are kept out by the engine's own lock.
_PROCESS_WRITE_LOCKS: dict[str, threading.RLock] = {}
_PROCESS_WRITE_LOCKS_GUARD = threading.Lock()


def process_write_lock(path: Path) -> threading.RLock:
    """The lock that the writers of ``path`` in this process take turns with."""
    with _PROCESS_WRITE_LOCKS_GUARD:
        return _PROCESS_WRITE_LOCKS.setdefault(str(path.resolve()), threading.RLock())


class LockWaits:
    """How long one user of the file (a run) may wait for other processes' locks, in total,
    and where those waits are reported.

    Each wait is reported when it starts (naming the process that holds the file, when the
    engine says), every ``report_every`` seconds while it lasts, and when it ends. Thread-safe:
    the writers of one run share it.

    Args:
        timeout: seconds of waiting allowed over all the connections opened with it.
        log: where the waits are reported.
        report_every: seconds between two reports of the same wait.
    """

    def __init__(
        self, timeout: float, *, log: logging.Logger | None = None, report_every: float = 30.0
    ) -> None:
        self.timeout = timeout
        self.log = log or logger
        self.report_every = report_every
        self._waited = 0.0
        self._guard = threading.Lock()

    @property
    def waited(self) -> float:
        """Seconds waited so far."""
        with self._guard:
            return self._waited

    def remaining(self) -> float:
        """Seconds of waiting still allowed."""
        with self._guard:
            return max(0.0, self.timeout - self._waited)

    def add(self, seconds: float) -> None:
        """Count ``seconds`` of waiting."""
        with self._guard:
            self._waited += seconds
