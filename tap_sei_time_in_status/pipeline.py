"""Several exports in flight at once, handed back in the order they were planned.

A sync's wall time is mostly the server's export time, so exports of later windows (and later
partitions) are created and polled while earlier ones are downloaded and emitted. Records still
leave in window order within a partition, which keeps the state resumable at window
boundaries: a completed export waits on disk until its turn.
"""

from __future__ import annotations

import logging
import threading
import typing as t
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from tap_sei_time_in_status.client import ExportApiClient
from tap_sei_time_in_status.export_job import (
    CompletedExport,
    ExportJob,
    ExportPolicy,
    ExportRequest,
)


class ExportCancelledError(Exception):
    """Raised inside a job's thread when the pipeline closes while the job waits."""


class ExportPipeline:
    """Runs planned `ExportJob`s, at most `max_in_flight` unconsumed at a time."""

    def __init__(
        self,
        client: ExportApiClient,
        policy: ExportPolicy,
        logger: logging.Logger,
        *,
        max_in_flight: int,
        workdir: Path | None = None,
    ) -> None:
        self._client = client
        self._policy = policy
        self._logger = logger
        self._max_in_flight = max_in_flight
        self._workdir = workdir
        self._executor = ThreadPoolExecutor(max_workers=max_in_flight, thread_name_prefix="export")
        self._planned: deque[ExportRequest] = deque()
        self._started: deque[tuple[ExportRequest, Future[CompletedExport]]] = deque()
        self._stop = threading.Event()
        self.jobs: list[ExportJob] = []

    def plan(self, requests: t.Iterable[ExportRequest]) -> None:
        """Queue exports in the order their records must be emitted, and start what fits."""
        self._planned.extend(requests)
        self._start_more()

    def take(self, request: ExportRequest) -> CompletedExport:
        """Wait for the export of `request`, which must be the next one planned."""
        if not self._started:
            self._start_more()
        head, future = self._started.popleft()
        if head != request:
            msg = f"exports are taken out of order: {request} asked, {head} next"
            raise RuntimeError(msg)
        completed = future.result()
        self._start_more()  # its slot is free: the export is done, only its rows are left
        return completed

    def close(self) -> None:
        """Stop waiting jobs, wait for the threads, and remove files nobody will read."""
        self._stop.set()
        self._planned.clear()
        for _, future in self._started:
            future.cancel()
        self._executor.shutdown(wait=True)
        for _, future in self._started:
            if future.done() and not future.cancelled() and future.exception() is None:
                future.result().cleanup()
        self._started.clear()

    def _start_more(self) -> None:
        while self._planned and len(self._started) < self._max_in_flight:
            request = self._planned.popleft()
            job = ExportJob(
                self._client,
                request,
                self._policy,
                self._logger,
                workdir=self._workdir,
                sleep=self._sleep,
            )
            self.jobs.append(job)
            self._started.append((request, self._executor.submit(job.run)))

    def _sleep(self, seconds: float) -> None:
        """A job's wait between polls, cut short when the pipeline closes."""
        if self._stop.wait(seconds):
            raise ExportCancelledError
