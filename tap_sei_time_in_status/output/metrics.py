"""`record_count` metrics that add up: per stream and partition, the records written.

singer-sdk counts what a stream's `get_records` yields, under one counter whose context is
switched per partition without being reset, and never sees `time_in_status_by_status`, whose
records are written from `time_in_status`'s exports. Its counter is therefore kept quiet and
each stream counts the RECORD messages it writes, logging one `record_count` point per
partition and a summary line per stream at the end of the sync.
"""

from __future__ import annotations

import logging
import os
import typing as t

from singer_sdk import metrics
from typing_extensions import override


class SilentCounter(metrics.Counter):
    """singer-sdk's record counter, which logs nothing: `PartitionCounts` does it right."""

    @override
    def _pop(self) -> None:
        self.value = 0


class PartitionCounts:
    """The records one stream wrote, per partition and in all."""

    def __init__(self, stream_name: str) -> None:
        self.stream_name = stream_name
        self.total = 0
        self.partitions = 0
        self._context: dict[str, t.Any] | None = None
        self._count = 0

    def begin(self, context: dict[str, t.Any]) -> None:
        """The records that follow belong to this partition."""
        self._context = dict(context)
        self._count = 0

    def add(self) -> None:
        """One record written."""
        self._count += 1

    def end(self) -> None:
        """Log the partition's `record_count` metric (as singer-sdk's metrics logger does)."""
        if self._context is None:
            return
        tags = {
            metrics.Tag.STREAM.value: self.stream_name,
            metrics.Tag.PID.value: os.getpid(),
            metrics.Tag.CONTEXT.value: self._context,
        }
        point = metrics.Point("counter", metrics.Metric.RECORD_COUNT, self._count, tags)
        metrics.log(metrics.get_metrics_logger(), point)
        self.total += self._count
        self.partitions += 1
        self._context = None
        self._count = 0

    def summary(self, logger: logging.Logger) -> None:
        """One line: the stream's records and partitions in this sync."""
        logger.info(
            "Sync summary of stream %s: %d record(s) written from %d partition(s)",
            self.stream_name,
            self.total,
            self.partitions,
        )
