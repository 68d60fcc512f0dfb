"""The CSV line limit, applied to bytes as they arrive or inflate, not once they sit on disk.

A line longer than `max_csv_line_bytes` stops the window in any case; checked while a plain
download streams in or while a gzip one inflates, it stops before more than one chunk past
the limit reaches the disk, where a later check would only see it after the whole line (up to
`max_decompressed_bytes`) was written.
"""

from __future__ import annotations

from tap_sei_time_in_status.api.limits import LimitExceededError


class LineLimit:
    """Line lengths of a byte stream fed in pieces; raises at the first line over the limit."""

    def __init__(self, max_line_bytes: int, what: str) -> None:
        self.max_line_bytes = max_line_bytes
        self._what = what
        #: The line the next byte belongs to, and how many bytes of it came already.
        self._line = 1
        self._length = 0

    def feed(self, chunk: bytes) -> None:
        """Count `chunk`'s lines; `LimitExceededError` as soon as one is too long."""
        limit = self.max_line_bytes
        first = chunk.find(b"\n")
        if first < 0:
            self._length += len(chunk)
            if self._length > limit:
                raise self._too_long(self._line)
            return
        last = chunk.rfind(b"\n")
        tail = len(chunk) - last - 1
        # Lines between the first and last newline can only be too long when the limit is
        # below that span: most chunks are judged by three numbers.
        if self._length + first > limit or tail > limit or last - first > limit:
            lengths = [len(part) for part in chunk.split(b"\n")]
            lengths[0] += self._length
            for i, length in enumerate(lengths):
                if length > limit:
                    raise self._too_long(self._line + i)
        self._line += chunk.count(b"\n")
        self._length = tail

    def _too_long(self, line: int) -> LimitExceededError:
        return LimitExceededError(
            f"{self._what}, line {line}: longer than {self.max_line_bytes:,} bytes "
            "(max_csv_line_bytes); raise max_csv_line_bytes if such lines are expected."
        )
