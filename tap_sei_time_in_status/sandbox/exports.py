"""Export jobs: their lifecycle by elapsed time, their files, and duplicate-request reuse."""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Final, Literal

from .config import SandboxConfig
from .contract import ExportRequest, canonical_json
from .files import ExportFile

Fate = Literal["complete", "fail", "stuck"]

QUEUED: Final = "QUEUED"
PROCESSING: Final = "PROCESSING"
COMPLETED: Final = "COMPLETED"
FAILED: Final = "FAILED"
UNKNOWN_STATUS: Final = "ARCHIVED"


@dataclass(eq=False)
class ExportRecord:
    """One export job as the sandbox knows it; counters are updated under the server lock."""

    export_id: str
    org_identifier: str
    project_identifier: str
    body: dict[str, Any]
    #: The canonical JSON of `body`: identical requests have equal keys.
    body_key: str
    request: ExportRequest
    #: The settings its data was generated with.
    config: SandboxConfig = field(repr=False)
    created_at: datetime
    created_monotonic: float
    fate: Fate
    #: Create requests answered with this export (1 + duplicate reuses).
    creates: int = 1
    polls: int = 0
    downloads: int = 0
    file: ExportFile | None = None
    #: Why generating the file failed, if it did (the export then reports FAILED).
    error: str | None = None
    ready: threading.Event = field(default_factory=threading.Event, repr=False)
    #: Damaged copies of the file, by fault kind, made on first use.
    variants: dict[str, ExportFile] = field(default_factory=dict, repr=False)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def created_at_text(self) -> str:
        """`createdAt` as the API writes it."""
        return self.created_at.strftime("%Y-%m-%dT%H:%M:%SZ")

    @property
    def attempts(self) -> int:
        """All requests about this export: creates, polls and downloads."""
        return self.creates + self.polls + self.downloads

    def status(self, export_seconds: float, now: float | None = None) -> str:
        """The upper-case status after the time elapsed since creation.

        QUEUED for the first third of `export_seconds`, then PROCESSING until both the time
        is up and the file is written; then COMPLETED, or FAILED for a failing export.
        """
        elapsed = (time.monotonic() if now is None else now) - self.created_monotonic
        if elapsed < export_seconds / 3:
            return QUEUED
        if self.fate == "stuck" or elapsed < export_seconds:
            return PROCESSING
        if self.fate == "fail" or self.error is not None:
            return FAILED
        return COMPLETED if self.ready.is_set() else PROCESSING


class ExportRegistry:
    """The exports the server knows, by id, and the index that finds duplicate requests."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._exports: dict[str, ExportRecord] = {}
        #: The exports of each (org, project, canonical body), oldest first: a create looks
        #: for its duplicate among its own twins, not among every export (thousands of teams).
        self._twins: dict[tuple[str, str, str], list[ExportRecord]] = {}
        self._failed = 0
        self._stuck = 0

    def reset_fates(self, *, failed: bool, stuck: bool) -> None:
        """Restart the count of `fail_exports` / `stuck_exports` (they were just set)."""
        with self._lock:
            if failed:
                self._failed = 0
            if stuck:
                self._stuck = 0

    def create(
        self,
        *,
        org_identifier: str,
        project_identifier: str,
        body: dict[str, Any],
        request: ExportRequest,
        config: SandboxConfig,
    ) -> ExportRecord:
        """Register a new export; its fate follows `fail_exports` / `stuck_exports`."""
        with self._lock:
            fate: Fate = "complete"
            if self._failed < config.fail_exports:
                self._failed += 1
                fate = "fail"
            elif self._stuck < config.stuck_exports:
                self._stuck += 1
                fate = "stuck"
            export_id = self._new_id(config.export_id_template)
            record = ExportRecord(
                export_id=export_id,
                org_identifier=org_identifier,
                project_identifier=project_identifier,
                body=body,
                body_key=canonical_json(body),
                request=request,
                config=config,
                created_at=datetime.now(timezone.utc),
                created_monotonic=time.monotonic(),
                fate=fate,
            )
            self._exports[export_id] = record
            key = (org_identifier, project_identifier, record.body_key)
            self._twins.setdefault(key, []).append(record)
            return record

    def get(self, export_id: str) -> ExportRecord | None:
        """The export with this id, if the server still knows it."""
        with self._lock:
            return self._exports.get(export_id)

    def find_duplicate(
        self,
        *,
        org_identifier: str,
        project_identifier: str,
        body_key: str,
        config: SandboxConfig,
    ) -> ExportRecord | None:
        """The latest not-FAILED export of an identical request within the reuse window."""
        now = time.monotonic()
        with self._lock:
            twins = self._twins.get((org_identifier, project_identifier, body_key), [])
            for record in reversed(twins):
                if now - record.created_monotonic > config.duplicate_window_seconds:
                    break
                if record.status(config.export_seconds, now) != FAILED:
                    return record
        return None

    def drop(self, export_id: str) -> None:
        """Forget one export (a create whose answer was about another)."""
        with self._lock:
            self._exports.pop(export_id, None)

    def all(self) -> list[ExportRecord]:
        """Every known export, oldest first."""
        with self._lock:
            return list(self._exports.values())

    def forget(self) -> list[ExportRecord]:
        """Drop every export (polls then answer 404) and return what was dropped."""
        with self._lock:
            dropped = list(self._exports.values())
            self._exports.clear()
            self._twins.clear()
            return dropped

    def _new_id(self, template: str) -> str:
        while True:
            export_id = template.replace("{hex}", secrets.token_hex(4).upper())
            if export_id not in self._exports:
                return export_id
