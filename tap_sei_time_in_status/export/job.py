"""The lifecycle of one window's export: create, poll until done, download (`downloads`).

An `ExportJob` shares only the (thread-safe) client and the run's `ExportOwners` (which
window each export id answers for), so several can run at once. Its warnings that can
repeat (retries, attempts, corrupt downloads) are capped per window.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import time
import typing as t
from dataclasses import dataclass, field
from pathlib import Path

from tap_sei_time_in_status.api.answers import NO_STATUS
from tap_sei_time_in_status.api.client import (
    CorruptDownloadError,
    ExportApiClient,
    ExportMismatchError,
    ExportNotFoundError,
    ExportStatus,
    SeiApiError,
)
from tap_sei_time_in_status.api.limits import SizeLimits
from tap_sei_time_in_status.export.downloads import ExportDownloader
from tap_sei_time_in_status.export.owners import ExportOwners
from tap_sei_time_in_status.export.poll_schedule import PollSchedule
from tap_sei_time_in_status.export.window_errors import (
    ExportFailedError,
    UnknownExportStatusError,
    about_window,
    window_timeout_error,
)
from tap_sei_time_in_status.log_limits import RepeatedWarnings, WarningSink
from tap_sei_time_in_status.settings import Scope, Settings
from tap_sei_time_in_status.windows import Window

QUEUED, PROCESSING, COMPLETED, FAILED = "QUEUED", "PROCESSING", "COMPLETED", "FAILED"
KNOWN_STATUSES = (QUEUED, PROCESSING, COMPLETED, FAILED)


def scope_error(scope: Scope, error: SeiApiError) -> SeiApiError:
    """A create refused for its scope, said so with the setting to check (sync and --test)."""
    if error.status_code != 400 or "scope" not in str(error).lower():
        return error
    setting = "team_ids" if scope.scope_type == "team" else "org_tree_names"
    return SeiApiError(
        f"The SEI API refused {scope}: {error}. Check {setting} (and org_identifier/"
        "project_identifier).",
        status_code=error.status_code,
        correlation_id=error.correlation_id,
    )


@dataclass(frozen=True)
class ExportRequest:
    """What one export asks for: one scope, one window, the configured options."""

    scope: Scope
    window: Window
    org_identifier: str
    issue_statuses: tuple[str, ...]
    aggregation_level: str
    granularity: str
    terminal_date_column: str

    @classmethod
    def for_window(cls, settings: Settings, scope: Scope, window: Window) -> ExportRequest:
        """The request of `scope` over `window` with the settings' options."""
        return cls(
            scope=scope,
            window=window,
            org_identifier=settings.org_identifier,
            issue_statuses=settings.issue_statuses,
            aggregation_level=settings.aggregation_level,
            granularity=settings.granularity,
            terminal_date_column=settings.terminal_date_column,
        )

    def body(self) -> dict[str, t.Any]:
        """The POST body, shaped exactly as the API page shows it."""
        scope: dict[str, str] = (
            {"teamId": self.scope.scope_id}
            if self.scope.scope_type == "team"
            else {"orgTreeName": self.scope.scope_id, "orgIdentifier": self.org_identifier}
        )
        return {
            "scope": scope,
            "dateRange": {
                "start": self.window.start.isoformat(),
                "end": self.window.end.isoformat(),
            },
            "issueStatuses": list(self.issue_statuses),
            "options": {
                "aggregationLevel": self.aggregation_level,
                "granularity": self.granularity,
                "terminalDateColumn": self.terminal_date_column,
            },
        }

    def digest(self) -> str:
        """A short fingerprint of the body, so a resumed export answers the same question."""
        canonical = json.dumps(self.body(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def __str__(self) -> str:
        return f"{self.scope} window {self.window}"


@dataclass(frozen=True)
class ExportPolicy:
    """How patiently to wait for an export and how often to create it again."""

    poll_interval_seconds: float = 1.0
    max_poll_interval_seconds: float = 60.0
    export_timeout_seconds: float = 1800.0
    max_export_attempts: int = 3
    failed_export_wait_seconds: float = 0.0
    #: All of a window's export work, halves included; None: 2 x attempts x export timeout.
    window_timeout_seconds: float | None = None
    limits: SizeLimits = field(default_factory=SizeLimits)

    @classmethod
    def from_settings(cls, settings: Settings) -> ExportPolicy:
        """The policy the user configured."""
        return cls(
            poll_interval_seconds=settings.poll_interval_seconds,
            max_poll_interval_seconds=settings.max_poll_interval_seconds,
            export_timeout_seconds=settings.export_timeout_seconds,
            max_export_attempts=settings.max_export_attempts,
            failed_export_wait_seconds=settings.failed_export_wait_seconds,
            window_timeout_seconds=settings.window_timeout_seconds,
            limits=SizeLimits.from_settings(settings),
        )

    @property
    def window_budget_seconds(self) -> float:
        """How long one window's export work may take, attempts and halvings together."""
        if self.window_timeout_seconds is not None:
            return self.window_timeout_seconds
        return 2 * self.max_export_attempts * self.export_timeout_seconds

    @property
    def poll_schedule(self) -> PollSchedule:
        """The waits between polls: a bounded overshoot, a bounded number of polls."""
        return PollSchedule(self.poll_interval_seconds, self.max_poll_interval_seconds)


@dataclass
class CompletedExport:
    """A completed export whose CSV lies, complete, in a private temporary file."""

    request: ExportRequest
    export_id: str
    csv_path: Path
    exports_created: int
    polls: int
    seconds: float

    def cleanup(self) -> None:
        """Remove the temporary file."""
        self.csv_path.unlink(missing_ok=True)


@dataclass
class ExportJob:
    """Drives one `ExportRequest` through the API until its CSV is on disk."""

    client: ExportApiClient
    request: ExportRequest
    policy: ExportPolicy
    logger: logging.Logger
    workdir: Path | None = None
    clock: t.Callable[[], float] = time.monotonic
    sleep: t.Callable[[float], None] = time.sleep
    #: When the window's export work must stop (a `clock` time); None: never.
    deadline: float | None = None
    #: Which window each export id of the run answers for; None: not checked.
    owners: ExportOwners | None = None
    polls: int = field(default=0, init=False)
    exports_created: int = field(default=0, init=False)
    _started: float = field(default=0.0, init=False)
    _repeated: RepeatedWarnings = field(init=False, repr=False)
    #: When the export now being polled was created (or first seen); None when not polling.
    _polling_since: float | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self._started = self.clock()  # seconds in the logs count from the job's creation
        self._repeated = RepeatedWarnings(self.logger, str(self.request))

    def start(self) -> ExportStatus:
        """Create the export (the first attempt); the answer may already be COMPLETED.

        An id the run (or the incoming state) has for another window stops the window.
        """
        try:
            with self._about_this_window():
                self._check_deadline()
                try:
                    created = self.client.create_export(
                        self.request.body(), deadline=self.deadline, log=self._retry_log
                    )
                except SeiApiError as e:
                    raise scope_error(self.request.scope, e) from None
            self.exports_created += 1
            self._log(created.export_id, f"created, {created.status}", created.message)
            if self.owners is not None:
                self.owners.claim(created.export_id, self.request)
        except BaseException:
            self._repeated.close()
            raise
        return created

    def resume(self, export_id: str) -> ExportStatus | None:
        """The status of an export an earlier run left in flight, or None if it is gone."""
        if self.owners is not None:
            self.owners.claim(export_id, self.request)
        try:
            with self._about_this_window():
                status = self._poll(export_id)
        except ExportNotFoundError:
            self._log(
                export_id,
                "left in flight by an earlier run; the server no longer knows it",
                level=logging.INFO,
            )
            return None
        self._log(
            export_id,
            f"resumed from the state, {status.status}",
            status.message,
            level=logging.INFO,
        )
        return status

    def poll_age(self) -> float | None:
        """The age of the export this job is polling, which sets its pace; None if not polling."""
        since = self._polling_since
        return None if since is None else self.clock() - since

    def run(self, first: ExportStatus | None = None) -> CompletedExport:
        """Poll and download, creating the export again after FAILED or a timeout.

        `first` is the answer of `start` or `resume`; without it the job starts by creating.
        """
        try:
            with self._about_this_window():
                return self._attempts(first)
        finally:
            self._repeated.close()  # the count of the warnings not shown

    @property
    def _retry_log(self) -> WarningSink:
        """Where the client's retry warnings of this window go: capped with the rest."""
        return self._repeated.of_kind("request retries")

    def _attempts(self, first: ExportStatus | None) -> CompletedExport:
        failures: list[str] = []
        for attempt in range(1, self.policy.max_export_attempts + 1):
            created = first if first is not None else self.start()
            first = None
            if any(f.startswith(f"{created.export_id} ") for f in failures):
                self._repeated.note(
                    "exports answered again",
                    "%s: the API answered with the abandoned export %s again (an identical "
                    "request within its duplicate window); waiting on it once more",
                    self.request,
                    created.export_id,
                )
            final = self._wait(created)
            if final.status == COMPLETED:
                return self._download(final.export_id, final.size_bytes)
            failures.append(f"{final.export_id} {final.message or final.status}")
            self._repeated.note(
                "attempts that did not complete",
                "%s: export %s attempt %d of %d did not complete (%s)",
                self.request,
                final.export_id,
                attempt,
                self.policy.max_export_attempts,
                final.message or final.status,
            )
            if final.status == FAILED and attempt < self.policy.max_export_attempts:
                # A server that just failed an export is often still busy: give it a pause.
                wait = self.policy.failed_export_wait_seconds
                if wait > 0:
                    self.logger.info(
                        "%s: creating the export again in %g s (failed_export_wait_seconds)",
                        self.request,
                        wait,
                    )
                self.sleep(wait)
        msg = (
            f"{self.request}: no export completed after {self.policy.max_export_attempts} "
            f"attempt(s): {'; '.join(failures)}"
        )
        raise ExportFailedError(msg)

    def _wait(self, status: ExportStatus) -> ExportStatus:
        """Poll on the policy's schedule until COMPLETED, FAILED, gone, or the timeout."""
        created_at = self._polling_since = self.clock()
        try:
            return self._poll_until_done(status, created_at)
        finally:
            self._polling_since = None

    def _poll_until_done(self, status: ExportStatus, created_at: float) -> ExportStatus:
        schedule = self.policy.poll_schedule
        while True:
            self._check_known(status)
            if status.status in (COMPLETED, FAILED):
                return status
            self._check_deadline()
            remaining = created_at + self.policy.export_timeout_seconds - self.clock()
            if remaining <= 0:
                return ExportStatus(
                    status.export_id,
                    "TIMED_OUT",
                    f"still {status.status} after {self.policy.export_timeout_seconds:g} s "
                    "(export_timeout_seconds)",
                )
            if self.deadline is not None:
                remaining = min(remaining, self.deadline - self.clock())
            wait = schedule.wait(self.clock() - created_at)
            self.sleep(max(0.0, min(wait, remaining)))
            self._check_deadline()
            try:
                polled = self._poll(status.export_id)
            except ExportNotFoundError:
                return ExportStatus(status.export_id, "GONE", "the server no longer knows it")
            self.polls += 1
            if polled.status != status.status:
                self._log(polled.export_id, f"{status.status} -> {polled.status}", polled.message)
            status = polled

    def _poll(self, export_id: str) -> ExportStatus:
        """The export's status; an answer about another export stops this window."""
        try:
            return self.client.get_export(export_id, deadline=self.deadline, log=self._retry_log)
        except ExportMismatchError as e:
            msg = f"{self.request}: {e}"
            raise ExportMismatchError(msg, status_code=e.status_code) from None

    def _check_known(self, status: ExportStatus) -> None:
        if status.status not in KNOWN_STATUSES and status.status != NO_STATUS:
            msg = (
                f"{self.request}: export {status.export_id} reported the unknown status "
                f"{status.status!r} (expected one of {', '.join(KNOWN_STATUSES)}); "
                "stopping rather than waiting on it."
            )
            raise UnknownExportStatusError(msg)

    def _download(self, export_id: str, expected_size: int | None = None) -> CompletedExport:
        """The completed export's CSV on disk; a file corrupt every time fails the attempt.

        `expected_size` is the `download.sizeBytes` the completed answer stated, if any.
        """
        downloader = ExportDownloader(
            self.client,
            self.policy.limits,
            self.request,
            self._repeated,
            self._retry_log,
            workdir=self.workdir,
            deadline=self.deadline,
        )
        try:
            csv_path, size = downloader.download(export_id, expected_size)
        except CorruptDownloadError as e:
            msg = f"{self.request}: {e}; not emitting any of its rows."
            raise ExportFailedError(msg) from None
        self._log(export_id, f"downloaded {size:,} bytes")
        return CompletedExport(
            request=self.request,
            export_id=export_id,
            csv_path=csv_path,
            exports_created=self.exports_created,
            polls=self.polls,
            seconds=self.clock() - self._started,
        )

    def _about_this_window(self) -> contextlib.AbstractContextManager[None]:
        """Say which window an error of the client's stopped."""
        return about_window(self.request, self.policy.window_budget_seconds)

    def _check_deadline(self) -> None:
        """Stop the window's export work once its budget is spent."""
        if self.deadline is not None and self.clock() >= self.deadline:
            raise window_timeout_error(self.request, self.policy.window_budget_seconds)

    def _log(
        self, export_id: str, transition: str, message: str = "", *, level: int = logging.DEBUG
    ) -> None:
        """One step of the export's life; the routine ones at DEBUG (a sync makes thousands)."""
        self.logger.log(
            level,
            "%s export %s: %s (%.1f s)%s",
            self.request,
            export_id,
            transition,
            self.clock() - self._started,
            f" - {message}" if message else "",
        )
