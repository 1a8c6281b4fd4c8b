"""A delay before each answer, as Microsoft's network and services add (100-500 ms a
Graph or Partner Center call): ``serve --latency-ms 150`` (fixed) or ``100-500``
(uniformly random in that range). The control API answers at once."""

import random
import threading
import time


class Latency:
    """`low` to `high` milliseconds before each answer (equal: a fixed delay)."""

    def __init__(self, low, high=None, seed=1, sleep=time.sleep):
        high = low if high is None else high
        if low < 0 or high < low:
            raise ValueError(f"latency: {low}-{high} ms is not a range of milliseconds")
        self.low, self.high = float(low), float(high)
        self._random = random.Random(seed)
        self._lock = threading.Lock()  # requests are served in threads
        self._sleep = sleep

    @classmethod
    def parse(cls, text, seed=1):
        """'150' (fixed) or '100-500' (random in the range), in milliseconds."""
        low, sep, high = str(text).partition("-")
        try:
            return cls(float(low), float(high) if sep else None, seed=seed)
        except ValueError as exc:
            raise ValueError(
                f"--latency-ms {text!r}: give milliseconds, a fixed 150 or a range 100-500 ({exc})"
            ) from None

    def delay(self):
        """Seconds of the next delay."""
        if self.low == self.high:
            return self.low / 1000
        with self._lock:
            return self._random.uniform(self.low, self.high) / 1000

    def wait(self):
        self._sleep(self.delay())
