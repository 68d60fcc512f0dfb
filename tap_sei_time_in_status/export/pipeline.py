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

How many are in flight is `admission`'s call: the user's `max_concurrent_exports`, or as many
as the request budget serves. While the caller waits for the export it needs next, the
pipeline keeps creating those the admission allows, so exports of later windows and
partitions run while an earlier one is still on the server.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import typing as t
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from tap_sei_time_in_status.api.cancellation import StopSwitch
from tap_sei_time_in_status.api.client import ExportApiClient, ExportStatus
from tap_sei_time_in_status.export.admission import Admission
from tap_sei_time_in_status.export.job import (
    FAILED,
    CompletedExport,
    ExportJob,
    ExportPolicy,
    ExportRequest,
)
from tap_sei_time_in_status.export.owners import ExportIdReusedError, ExportOwners
from tap_sei_time_in_status.export.window_errors import ExportFailedError
from tap_sei_time_in_status.settings import Granularity
from tap_sei_time_in_status.windows import split_window

OnCreated = t.Callable[[ExportRequest, str], None]
#: While the caller waits for its export, how often more exports may be created.
ADMISSION_CHECK_SECONDS = 0.1


@dataclass(frozen=True)
class PipelineStatus:
    """Where the sync's exports stand, for progress lines."""

    #: Planned and not yet created.
    queued: int
    #: Created and not yet handed back (polling, downloading, or waiting on disk).
    in_flight: int
    #: Handed back to be emitted.
    handed_back: int
    #: Requests sent in the last minute, and the budget (`max_requests_per_minute`).
    requests_last_minute: int
    requests_per_minute: float


@dataclass(eq=False)
class _InFlight:
    """One planned export between its creation and its hand-back."""

    request: ExportRequest
    #: The job at work now: the window's, or one of its halves' once it was split.
    job: ExportJob
    future: Future[list[CompletedExport]] | None = None


class ExportPipeline:
    """Runs planned exports, as many between creation and hand-back as `admission` allows."""

    def __init__(
        self,
        client: ExportApiClient,
        policy: ExportPolicy,
        logger: logging.Logger,
        *,
        admission: Admission,
        recorded: t.Iterable[tuple[str, ExportRequest]] = (),
        on_created: OnCreated | None = None,
        in_flight: t.Mapping[ExportRequest, str] | None = None,
        workdir: Path | None = None,
        max_run_seconds: float | None = None,
        clock: t.Callable[[], float] = time.monotonic,
        stop: StopSwitch | None = None,
        on_wait: t.Callable[[], None] | None = None,
    ) -> None:
        self._client = client
        self._policy = policy
        self._logger = logger
        self._admission = admission
        # Which window each export id answers for: those the state holds, then the run's.
        self._owners = ExportOwners()
        for export_id, request in recorded:
            self._owners.remember(export_id, request)
        # Set when a window met another window's export id: nothing after it is created.
        self._refused = False
        self._on_created = on_created
        self._on_wait = on_wait
        self._resume = dict(in_flight or {})
        self._workdir = workdir
        self._executor = ThreadPoolExecutor(
            max_workers=admission.most_in_flight, thread_name_prefix="export"
        )
        self._planned: deque[ExportRequest] = deque()
        self._started: deque[_InFlight] = deque()
        self._handed_back = 0
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
        self._start_more()
        if self.deadline_reached and all(e.request != request for e in self._started):
            return None
        head = self._started[0]
        if head.request != request:
            msg = f"exports are taken out of order: {request} asked, {head.request} next"
            raise RuntimeError(msg)
        future = t.cast("Future[list[CompletedExport]]", head.future)
        while not wait([future], timeout=ADMISSION_CHECK_SECONDS).done:
            self._start_more()  # later exports start while this one is on the server
            if self._on_wait is not None:
                self._on_wait()
        self._started.popleft()
        completed = future.result()
        self._handed_back += 1
        try:
            self._start_more()  # its slot is free: the export is done, only its rows are left
        except BaseException:  # e.g. the next create was refused: nobody will read these
            for part in completed:
                part.cleanup()
            raise
        return completed

    def status(self) -> PipelineStatus:
        """How many exports are queued, in flight and handed back; the requests of a minute."""
        limiter = self._client.rate_limiter
        return PipelineStatus(
            queued=len(self._planned),
            in_flight=len(self._started),
            handed_back=self._handed_back,
            requests_last_minute=limiter.used(),
            requests_per_minute=limiter.per_minute,
        )

    def close(self) -> None:
        """Stop waiting jobs, wait for the threads, and remove files nobody will read."""
        self._stop.stop()
        self._planned.clear()
        for entry in self._started:
            if entry.future is not None:
                entry.future.cancel()
        self._executor.shutdown(wait=True)
        for entry in self._started:
            future = entry.future
            if (
                future is not None
                and future.done()
                and not future.cancelled()
                and future.exception() is None
            ):
                for completed in future.result():
                    completed.cleanup()
        self._started.clear()

    def _start_more(self) -> None:
        """Create (or resume) planned exports, in order, while the admission allows."""
        while self._planned and not self._refused and self._admits():
            if self._deadline is not None and self._clock() >= self._deadline:
                self.deadline_reached = True  # no export is created from now on
                return
            request = self._planned.popleft()
            job = self._job(request, time.monotonic() + self._policy.window_budget_seconds)
            entry = _InFlight(request, job)
            try:
                first = self._first_status(job)
            except ExportIdReusedError as e:
                # The window's error, raised at its turn: the windows before it go out first.
                self._refused = True
                refused: Future[list[CompletedExport]] = Future()
                refused.set_exception(e)
                entry.future = refused
                self._started.append(entry)
                return
            entry.future = self._executor.submit(self._run, entry, job, first)
            self._started.append(entry)

    def _admits(self) -> bool:
        return self._admission.admits(
            len(self._started),
            (age for e in self._started if (age := e.job.poll_age()) is not None),
            self._client.rate_limiter.delay(),
        )

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

    def _run(
        self, entry: _InFlight, job: ExportJob, first: ExportStatus | None
    ) -> list[CompletedExport]:
        """One window's export, split into halves while it keeps failing."""
        entry.job = job
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
                    parts += self._run(entry, half_job, None)
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
