"""The sandbox clock: real time plus an offset that the control API can move."""

import threading
from datetime import UTC, datetime, timedelta


class Clock:
    def __init__(self, start=None):
        self._lock = threading.Lock()
        self._offset = timedelta(0)
        if start is not None:
            self.set(start)

    def now(self):
        """Current sandbox time, an aware UTC datetime."""
        with self._lock:
            return datetime.now(UTC) + self._offset

    def timestamp(self):
        return int(self.now().timestamp())

    def advance(self, seconds):
        with self._lock:
            self._offset += timedelta(seconds=seconds)

    def set(self, when):
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        with self._lock:
            self._offset = when - datetime.now(UTC)
