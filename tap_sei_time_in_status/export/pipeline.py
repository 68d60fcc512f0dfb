"""Several exports in flight at once, handed back in the order they were planned.

A sync's wall time is mostly the server's export time, so exports of later windows (and later
partitions) are created and polled while earlier ones are downloaded and emitted. Records still
leave in window order within a partition, which keeps the state resumable at window
boundaries: a completed export waits on disk until its turn.

Exports are created (or resumed) on the caller's thread, between windows, so that the caller
can record each export id in the state before anything polls it; threads then poll and
download. A window whose export fails on every attempt is split into halves of whole periods,
down to a single period; the window's deadline (`window_timeout_seconds`) bounds all of it,
halves included. A stop (`StopSwitch`) wakes every waiting job. Every export id the run
meets is claimed for its window (`ExportOwners`): an id answered for a second window stops
that window, at its turn, so the windows before it are still emitted and bookmarked.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import typing as t
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from tap_sei_time_in_status.api.cancellation import StopSwitch
from tap_sei_time_in_status.api.client import ExportApiClient, ExportStatus
from tap_sei_time_in_status.export.job import (
    FAILED,
    CompletedExport,
    ExportFailedError,
    ExportJob,
    ExportPolicy,
    ExportRequest,
)
from tap_sei_time_in_status.export.owners import ExportIdReusedError, ExportOwners
from tap_sei_time_in_status.settings import Granularity
from tap_sei_time_in_status.windows import split_window

OnCreated = t.Callable[[ExportRequest, str], None]


class ExportPipeline:
    """Runs planned exports, at most `max_in_flight` of them between creation and hand-back."""

    def __init__(
        self,
        client: ExportApiClient,
        policy: ExportPolicy,
        logger: logging.Logger,
        *,
        max_in_flight: int,
        on_created: OnCreated | None = None,
        in_flight: t.Mapping[ExportRequest, str] | None = None,
        recorded: t.Iterable[tuple[str, ExportRequest]] = (),
        workdir: Path | None = None,
        max_run_seconds: float | None = None,
        clock: t.Callable[[], float] = time.monotonic,
        stop: StopSwitch | None = None,
    ) -> None:
        self._client = client
        self._policy = policy
        self._logger = logger
        self._max_in_flight = max_in_flight
        self._on_created = on_created
        self._resume = dict(in_flight or {})
        # Which window each export id answers for: those the state holds, then the run's.
        self._owners = ExportOwners()
        for export_id, request in recorded:
            self._owners.remember(export_id, request)
        # Set when a window met another window's export id: nothing after it is created.
        self._refused = False
        self._workdir = workdir
        self._executor = ThreadPoolExecutor(max_workers=max_in_flight, thread_name_prefix="export")
        self._planned: deque[ExportRequest] = deque()
        self._started: deque[tuple[ExportRequest, Future[list[CompletedExport]]]] = deque()
        # Set when the pipeline closes, or when the whole tap is told to stop.
        self._stop = StopSwitch()
        if stop is not None:
            stop.on_stop(self._stop.stop)
        self._clock = clock
        self._deadline = None if max_run_seconds is None else clock() + max_run_seconds
        self.deadline_reached = False

    def plan(self, requests: t.Iterable[ExportRequest]) -> None:
        """Queue exports in the order their records must be emitted, and start what fits."""
        self._planned.extend(requests)
        self._start_more()

    def take(self, request: ExportRequest) -> list[CompletedExport] | None:
        """The completed export(s) of `request`, which must be the next one planned.

        More than one when the window had to be split; in window order. None when
        `max_run_seconds` passed before its export was created: it is left for the next run.
        """
        if not self._started:
            self._start_more()
        if self.deadline_reached and all(r != request for r, _ in self._started):
            return None
        head, future = self._started.popleft()
        if head != request:
            msg = f"exports are taken out of order: {request} asked, {head} next"
            raise RuntimeError(msg)
        completed = future.result()
        try:
            self._start_more()  # its slot is free: the export is done, only its rows are left
        except BaseException:  # e.g. the next create was refused: nobody will read these
            for part in completed:
                part.cleanup()
            raise
        return completed

    def close(self) -> None:
        """Stop waiting jobs, wait for the threads, and remove files nobody will read."""
        self._stop.stop()
        self._planned.clear()
        for _, future in self._started:
            future.cancel()
        self._executor.shutdown(wait=True)
        for _, future in self._started:
            if future.done() and not future.cancelled() and future.exception() is None:
                for completed in future.result():
                    completed.cleanup()
        self._started.clear()

    def _start_more(self) -> None:
        while self._planned and len(self._started) < self._max_in_flight and not self._refused:
            if self._deadline is not None and self._clock() >= self._deadline:
                self.deadline_reached = True  # no export is created from now on
                return
            request = self._planned.popleft()
            job = self._job(request, time.monotonic() + self._policy.window_budget_seconds)
            try:
                first = self._first_status(job)
            except ExportIdReusedError as e:
                # The window's error, raised at its turn: the windows before it go out first.
                self._refused = True
                refused: Future[list[CompletedExport]] = Future()
                refused.set_exception(e)
                self._started.append((request, refused))
                return
            self._started.append((request, self._executor.submit(self._run, job, first)))

    def _first_status(self, job: ExportJob) -> ExportStatus:
        """Resume the export an earlier run left in flight, or create one and report it."""
        export_id = self._resume.pop(job.request, None)
        if export_id is not None:
            status = job.resume(export_id)
            if status is not None and status.status != FAILED:
                return status
        created = job.start()
        if self._on_created is not None:
            self._on_created(job.request, created.export_id)
        return created

    def _run(self, job: ExportJob, first: ExportStatus | None) -> list[CompletedExport]:
        """One window's export, split into halves while it keeps failing."""
        try:
            return [job.run(first)]
        except ExportFailedError as failure:
            request = job.request
            halves = split_window(request.window, t.cast("Granularity", request.granularity))
            if halves is None:
                msg = (
                    f"{failure} The window is a single period and cannot be split further. "
                    "Retry later, or raise max_export_attempts or export_timeout_seconds."
                )
                raise ExportFailedError(msg) from None
            self._logger.warning(
                "%s: every attempt failed; exporting it again as %s and %s",
                request,
                *halves,
            )
            parts: list[CompletedExport] = []
            try:
                for half in halves:
                    half_job = self._job(dataclasses.replace(request, window=half), job.deadline)
                    parts += self._run(half_job, None)
            except BaseException:
                for part in parts:
                    part.cleanup()
                raise
            return parts

    def _job(self, request: ExportRequest, deadline: float | None) -> ExportJob:
        return ExportJob(
            self._client,
            request,
            self._policy,
            self._logger,
            workdir=self._workdir,
            sleep=self._stop.sleep,  # a wait between polls, cut short by a stop or close
            deadline=deadline,
            owners=self._owners,
        )
