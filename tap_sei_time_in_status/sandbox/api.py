"""What the sandbox answers, apart from HTTP plumbing: routes, auth, exports, faults, the log.

`SandboxApi.handle` turns one parsed request into one `Reply`; `server.py` reads requests off
the socket and writes replies back. Keeping the two apart lets the answer (and the request
log entry) be settled before a single byte goes out, so a client that has its answer can
rely on the log already showing the request.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import re
import shutil
import tempfile
import threading
import time
import traceback
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import quote

from typing_extensions import Unpack

from .config import CREATE_STATUS_CODES, ConfigChanges, SandboxConfig
from .contract import InvalidRequestError, canonical_json, parse_export_request
from .data import team_display_name
from .exports import COMPLETED, UNKNOWN_STATUS, ExportRecord, ExportRegistry
from .faults import (
    BAD_REDIRECTS,
    DRIP_KINDS,
    MALFORMED_KINDS,
    REDIRECT_BACK_KINDS,
    REPLACING_KINDS,
    STATUS_KINDS,
    Fault,
    FaultPlan,
)
from .files import ExportFile, gzip_bomb, plain_huge_line, write_export_file, write_malformed
from .observe import peak_exports_in_flight, peak_requests

EndpointKind = Literal["create", "poll", "download", "blob", "health", "other"]

EXPORTS_SUFFIX: Final = "/v2/insights/ticket-data/exports"
BLOB_PREFIX: Final = "/_blob/"
CREATED_BY: Final[Mapping[str, str]] = {
    "userId": "user_789",
    "name": "Alice Wong",
    "email": "alice.wong@company.com",
}
MSG_CREATED: Final = "Export job created successfully"
MSG_DUPLICATE: Final = "Duplicate request - returning existing export"
MSG_REUSED: Final = "Using existing export with identical parameters"
#: The export id a misrouted poll answers with when the sandbox knows no other export.
OTHER_EXPORT_ID: Final = "exp_0THER000"
STATUS_MESSAGES: Final[Mapping[str, str]] = {
    "QUEUED": "Export queued.",
    "PROCESSING": "Export in progress.",
    "COMPLETED": "Export ready.",
    "FAILED": "Export failed.",
    UNKNOWN_STATUS: "Export archived.",
}
_ERROR_CODES: Final[Mapping[int, str]] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHORIZED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "FAILED_PRECONDITION",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "BAD_GATEWAY",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_HTML_502: Final = (
    b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n"
    b"<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center>"
    b"</body></html>\n"
)
_NON_JSON: Final = b"upstream connect error or disconnect/reset before headers"
_NESTING: Final = 100_000
_NESTED_JSON: Final = b'{"exportId": "exp_0", "status": ' + b"[" * _NESTING + b"]" * _NESTING + b"}"
_GZIP_TYPE: Final = "application/gzip"
_CSV_TYPE: Final = "text/csv; charset=utf-8"
_ROUTES: Final[tuple[tuple[EndpointKind, str], ...]] = (
    ("create", rf"{{base}}{EXPORTS_SUFFIX}"),
    ("poll", rf"{{base}}{EXPORTS_SUFFIX}/(?P<id>[^/]+)"),
    ("download", rf"{{base}}{EXPORTS_SUFFIX}/(?P<id>[^/]+)/download"),
    ("blob", rf"{BLOB_PREFIX}(?P<id>[^/]+)"),
    ("health", r"(?:{base})?/healthz"),
)
_METHODS: Final[Mapping[EndpointKind, str]] = {
    "create": "POST",
    "poll": "GET",
    "download": "GET",
    "blob": "GET",
    "health": "GET",
}


@dataclass(frozen=True)
class Exchange:
    """One request as read off the socket."""

    method: str
    path: str
    query: Mapping[str, str]
    body: bytes
    authorization: str | None
    content_type: str | None = None


@dataclass
class Reply:
    """One answer to write: a body in memory or a file to stream, and how to misbehave.

    `length` is the announced Content-Length (default: the body's); `send_bytes` stops the
    body short and closes the connection (a cut download); `drop` closes without answering;
    `drip` sends one byte every `drip` seconds, of the headers (`drip_headers`) or the body.
    """

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    file: Path | None = None
    gunzip: bool = False
    length: int | None = None
    send_bytes: int | None = None
    drop: bool = False
    drip: float | None = None
    drip_headers: bool = False


@dataclass(frozen=True)
class RequestRecord:
    """One entry of the request log; never holds the API key."""

    endpoint: EndpointKind
    method: str
    path: str
    query: Mapping[str, str]
    #: The status sent, or None when the connection was dropped without an answer.
    status: int | None
    export_id: str | None
    #: The parsed JSON body of a create (or its raw text when it was not JSON).
    body: Any
    auth_valid: bool
    auth_present: bool
    fault: str | None
    at: float
    #: The request's `Content-Type` header, if it had one.
    content_type: str | None = None


@dataclass
class _Context:
    endpoint: EndpointKind
    export_id: str | None = None
    body: Any = None
    auth_present: bool = False
    auth_valid: bool = False
    fault: Fault | None = None


class SandboxApi:
    """The sandbox's state and behaviour; `SandboxServer` serves it over HTTP."""

    def __init__(
        self, config: SandboxConfig | None = None, **overrides: Unpack[ConfigChanges]
    ) -> None:
        base = config or SandboxConfig()
        self._config = dataclasses.replace(base, **overrides) if overrides else base
        self._lock = threading.RLock()
        self._log: list[RequestRecord] = []
        self._errors: list[str] = []
        self._registry = ExportRegistry()
        self._plan = FaultPlan(self._config.faults)
        self._stopping = threading.Event()
        self._workdir = Path(tempfile.mkdtemp(prefix="sei-sandbox-"))
        self._blob_salt = uuid.uuid4().hex

    # -- settings ---------------------------------------------------------------------------

    @property
    def config(self) -> SandboxConfig:
        """The settings in force (a frozen snapshot)."""
        with self._lock:
            return self._config

    def set_config(self, **changes: Unpack[ConfigChanges]) -> SandboxConfig:
        """Change settings at runtime; `faults` replaces the fault plan and its counters."""
        with self._lock:
            config = dataclasses.replace(self._config, **changes)
            self._check_config_change(config)
            self._config = config
            if "faults" in changes:
                self._plan.replace(config.faults)
            self._registry.reset_fates(
                failed="fail_exports" in changes, stuck="stuck_exports" in changes
            )
            return config

    def set_faults(self, faults: Iterable[Fault]) -> None:
        """Put a new fault plan in force, with fresh counters."""
        self.set_config(faults=tuple(faults))

    @property
    def fault_plan(self) -> FaultPlan:
        """The fault plan in force, with how often each fault fired."""
        return self._plan

    def _check_config_change(self, config: SandboxConfig) -> None:
        """Refuse changes that cannot take effect after start (overridden by the server)."""

    # -- observability ----------------------------------------------------------------------

    @property
    def request_log(self) -> list[RequestRecord]:
        """Every request so far, in arrival order (a copy)."""
        with self._lock:
            return list(self._log)

    def requests_of(self, endpoint: EndpointKind) -> list[RequestRecord]:
        """The logged requests to one endpoint kind."""
        return [r for r in self.request_log if r.endpoint == endpoint]

    def polls_for(self, export_id: str) -> list[RequestRecord]:
        """The logged status polls of one export."""
        return [r for r in self.requests_of("poll") if r.export_id == export_id]

    def downloads_for(self, export_id: str) -> list[RequestRecord]:
        """The logged downloads of one export."""
        return [r for r in self.requests_of("download") if r.export_id == export_id]

    def requests_of_project(self, project_identifier: str) -> list[RequestRecord]:
        """The logged requests that named this `projectIdentifier`."""
        return [
            r for r in self.request_log if r.query.get("projectIdentifier") == project_identifier
        ]

    def peak_requests(self, window_seconds: float = 60.0, project: str | None = None) -> int:
        """The most requests that arrived within any `window_seconds` (of one project)."""
        log = self.request_log if project is None else self.requests_of_project(project)
        return peak_requests([r.at for r in log], window_seconds)

    def peak_exports_in_flight(self, project: str | None = None) -> int:
        """The most exports that were between their creation and their last request at once."""
        log = self.request_log if project is None else self.requests_of_project(project)
        return peak_exports_in_flight(log)

    def reset_log(self) -> None:
        """Forget the logged requests (not the exports)."""
        with self._lock:
            self._log.clear()

    @property
    def errors(self) -> list[str]:
        """Tracebacks of unexpected sandbox errors; tests can assert it stays empty."""
        with self._lock:
            return list(self._errors)

    def exports_created(self) -> list[ExportRecord]:
        """Every export the sandbox knows, oldest first."""
        return self._registry.all()

    @property
    def exports(self) -> dict[str, ExportRecord]:
        """The export registry: id -> record."""
        return {r.export_id: r for r in self._registry.all()}

    def export(self, export_id: str) -> ExportRecord:
        """The record of one export; KeyError when unknown."""
        record = self._registry.get(export_id)
        if record is None:
            raise KeyError(export_id)
        return record

    def export_status(self, export_id: str) -> str:
        """The status a poll of this export would report now."""
        return self._reported_status(self.export(export_id), self.config)

    def forget_exports(self) -> None:
        """Drop every export, as a server that lost its jobs: polls then answer 404."""
        for record in self._registry.forget():
            with record.lock:
                files = [record.file, *record.variants.values()]
            for export_file in files:
                if export_file is not None:
                    export_file.path.unlink(missing_ok=True)

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port clients reach the sandbox on (set by the server)."""
        raise NotImplementedError

    def close(self) -> None:
        """Wake sleeping `slow` faults and delete the export files."""
        self._stopping.set()
        shutil.rmtree(self._workdir, ignore_errors=True)

    # -- request handling -----------------------------------------------------------------

    def handle(self, exchange: Exchange) -> Reply:
        """Answer one request and log it (before the answer is written)."""
        config = self.config
        ctx = _Context(endpoint="other")
        try:
            reply = self._answer(exchange, config, ctx)
        except Exception:  # a sandbox bug must surface as a 500, not a hang
            with self._lock:
                self._errors.append(traceback.format_exc())
            reply = _error(500, "sandbox internal error")
        self._log_request(exchange, ctx, reply)
        return reply

    def _dispatch(
        self, exchange: Exchange, config: SandboxConfig, ctx: _Context, fault: Fault | None
    ) -> Reply:
        """The endpoint's own answer (before a replacing fault or a drip applies)."""
        export_id = ctx.export_id or ""
        if ctx.endpoint == "blob":
            return self._blob(exchange, config, export_id)
        if ctx.endpoint == "create":
            reply = self._create(exchange, config, ctx)
            if fault is not None and fault.kind == "other_window_export":
                reply = self._other_window_export(exchange, config, ctx, reply, fault)
            return reply
        if ctx.endpoint == "poll":
            reply = self._poll(exchange, config, export_id)
            if fault is not None and fault.kind == "other_export" and reply.status == 200:
                reply = self._other_export(exchange, config, export_id)
            return reply
        return self._download(exchange, config, export_id, fault)

    def _answer(self, exchange: Exchange, config: SandboxConfig, ctx: _Context) -> Reply:
        endpoint, export_id = _route(exchange.path, config.base_path)
        ctx.endpoint = endpoint
        ctx.export_id = export_id
        header = exchange.authorization
        ctx.auth_present = header is not None
        ctx.auth_valid = header is not None and hmac.compare_digest(
            header.encode(), f"ApiKey {config.api_key}".encode()
        )
        if endpoint == "download" and self._signed(exchange, export_id or ""):
            # A pre-signed link to the file on the API host (`redirect_back_same`): no key.
            return self._blob(exchange, config, export_id or "")
        refusal = _refusal(exchange, ctx, config)
        if refusal is not None:
            return refusal
        if endpoint == "health":
            return _json(200, {"status": "ok"})
        fault = ctx.fault = self._plan.take(endpoint)
        if fault is not None and fault.kind == "slow":
            self._stopping.wait(fault.delay)
        if fault is not None and fault.kind in REPLACING_KINDS and not fault.process:
            return _fault_reply(fault, config)
        reply = self._dispatch(exchange, config, ctx, fault)
        if fault is not None and fault.kind in REPLACING_KINDS:
            return _fault_reply(fault, config)
        if fault is not None and fault.kind in DRIP_KINDS:
            reply.drip = fault.delay
            reply.drip_headers = fault.kind == "drip_headers"
        return reply

    def _create(self, exchange: Exchange, config: SandboxConfig, ctx: _Context) -> Reply:
        try:
            body = json.loads(exchange.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            ctx.body = exchange.body.decode("utf-8", "replace")
            return _error(400, "the request body is not valid JSON")
        ctx.body = body
        org = exchange.query["orgIdentifier"]
        project = exchange.query["projectIdentifier"]
        try:
            request = parse_export_request(
                body, check_scope=lambda scope: _check_scope(scope, config, org, project)
            )
        except InvalidRequestError as e:
            return _error(400, str(e))
        with self._lock:  # find-or-create in one step, or two racing twins both create
            duplicate = self._registry.find_duplicate(
                org_identifier=org,
                project_identifier=project,
                body_key=canonical_json(body),
                config=config,
            )
            if duplicate is not None:
                duplicate.creates += 1
                ctx.export_id = duplicate.export_id
                if config.create_without_status:  # as the Efficiency page shows it
                    reused = {
                        "exportId": duplicate.export_id,
                        "createdAt": duplicate.created_at_text,
                        "message": MSG_REUSED,
                    }
                    return _json(200, reused)
                return _json(200, self._status_body(duplicate, config, MSG_DUPLICATE))
            record = self._registry.create(
                org_identifier=org,
                project_identifier=project,
                body=body,
                request=request,
                config=config,
            )
        ctx.export_id = record.export_id
        if record.fate == "complete":
            threading.Thread(
                target=self._generate,
                args=(record,),
                name=f"sei-sandbox-{record.export_id}",
                daemon=True,
            ).start()
        status = UNKNOWN_STATUS if config.unknown_status else "QUEUED"
        if config.create_without_status:  # as the Sprint page shows it
            created: dict[str, object] = {
                "exportId": record.export_id,
                "createdAt": record.created_at_text,
                "createdBy": dict(CREATED_BY),
                "metadata": _metadata(record),
                "message": MSG_CREATED,
            }
            return _json(config.create_status_code, created)
        return _json(
            config.create_status_code,
            {
                "exportId": record.export_id,
                "status": _cased(status, config),
                "createdAt": record.created_at_text,
                "message": config.status_message or MSG_CREATED,
            },
        )

    def _poll(self, exchange: Exchange, config: SandboxConfig, export_id: str) -> Reply:
        record = self._lookup(exchange, export_id)
        if record is None:
            return _error(404, f"Export {export_id} not found")
        with self._lock:
            record.polls += 1
        message = STATUS_MESSAGES[record.status(config.export_seconds)]
        return _json(200, self._status_body(record, config, message))

    def _download(
        self, exchange: Exchange, config: SandboxConfig, export_id: str, fault: Fault | None
    ) -> Reply:
        record = self._lookup(exchange, export_id)
        if record is None:
            return _error(404, f"Export {export_id} not found")
        with self._lock:
            record.downloads += 1
        status = record.status(config.export_seconds)
        if status != COMPLETED or record.file is None:
            return _error(409, f"Export {export_id} is {status}, not COMPLETED")
        kind = fault.kind if fault is not None else None
        if kind in BAD_REDIRECTS:
            return Reply(302, [("Location", BAD_REDIRECTS[kind])])
        if kind in ("gzip_bomb", "plain_huge_line") and fault is not None:
            return _huge_reply(fault)
        if kind == "redirect" or kind in REDIRECT_BACK_KINDS:
            signature = self._blob_signature(export_id)
            location = (
                f"http://{config.blob_host}:{self.port}{BLOB_PREFIX}{export_id}"
                f"?signature={signature}"
            )
            if kind in REDIRECT_BACK_KINDS:
                back = self._back_path(exchange, config, export_id, kind or "")
                location += f"&back={quote(back, safe='')}"
            return Reply(302, [("Location", location)])
        export_file = record.file
        if kind in MALFORMED_KINDS and kind is not None:
            export_file = self._variant(record, kind)
        return _file_reply(export_id, export_file, kind)

    def _blob(self, exchange: Exchange, config: SandboxConfig, export_id: str) -> Reply:
        """The redirect target: a pre-signed URL on another host name, needing no key.

        With `back` (a `redirect_back_*` fault) it redirects on, to that path of the API host.
        """
        record = self._registry.get(export_id)
        if record is None or not self._signed(exchange, export_id):
            return _error(404, f"no blob {export_id}")
        if record.status(config.export_seconds) != COMPLETED or record.file is None:
            return _error(404, f"no blob {export_id}")
        back = exchange.query.get("back")
        if back is not None:
            return Reply(302, [("Location", f"http://{_api_host(config)}:{self.port}{back}")])
        return _file_reply(export_id, record.file, None)

    def _signed(self, exchange: Exchange, export_id: str) -> bool:
        """Whether the request carries the blob signature of `export_id`."""
        signature = exchange.query.get("signature")
        return signature is not None and hmac.compare_digest(
            signature.encode(), self._blob_signature(export_id).encode()
        )

    def _back_path(
        self, exchange: Exchange, config: SandboxConfig, export_id: str, kind: str
    ) -> str:
        """Where on the API host a `redirect_back_*` fault's blob host sends the client."""
        exports = f"{config.base_path}{EXPORTS_SUFFIX}"
        if kind == "redirect_back_poll":
            return f"{exports}/{export_id}"
        if kind == "redirect_back_same":
            return f"{exports}/{export_id}/download?signature={self._blob_signature(export_id)}"
        others = [
            r.export_id
            for r in self._registry.all()
            if r.export_id != export_id and self._lookup(exchange, r.export_id) is not None
        ]
        return f"{exports}/{(others or [OTHER_EXPORT_ID])[-1]}/download"

    # -- helpers ----------------------------------------------------------------------------

    def _lookup(self, exchange: Exchange, export_id: str) -> ExportRecord | None:
        """The export, if it exists in the org and project the request names."""
        record = self._registry.get(export_id)
        if record is None:
            return None
        if (record.org_identifier, record.project_identifier) != (
            exchange.query["orgIdentifier"],
            exchange.query["projectIdentifier"],
        ):
            return None
        return record

    def _status_body(
        self, record: ExportRecord, config: SandboxConfig, message: str
    ) -> dict[str, object]:
        body: dict[str, object] = {
            "exportId": record.export_id,
            "status": self._reported_status(record, config),
            "createdAt": record.created_at_text,
            "createdBy": dict(CREATED_BY),
            "message": config.status_message or message,
        }
        if config.rich_answers:
            body.update(self._rich_fields(record, config))
        return body

    def _rich_fields(self, record: ExportRecord, config: SandboxConfig) -> dict[str, object]:
        """What sibling export pages add to an answer: scope, metadata, the file's details.

        The URLs point off the documented download path, on purpose: a client that followed
        them instead of `.../exports/{exportId}/download` would show in the request log.
        """
        scope: dict[str, object] = dict(record.request.scope)
        if record.request.team_id is not None:
            scope["teamName"] = team_display_name(record.request.team_id)
        fields: dict[str, object] = {"scope": scope, "metadata": _metadata(record)}
        if record.status(config.export_seconds) != COMPLETED or record.file is None:
            return fields
        finished = record.created_at + timedelta(seconds=config.export_seconds)
        url = f"http://{config.blob_host}:{self.port}/_files/{record.export_id}.csv.gz"
        fields["completedAt"] = finished.strftime("%Y-%m-%dT%H:%M:%SZ")
        fields["download"] = {
            "url": url,
            "filename": f"{record.export_id}.csv.gz",
            "sizeBytes": record.file.gzip_size + config.stated_size_offset,
            "contentType": _GZIP_TYPE,
            "compression": "gzip",
        }
        fields["downloadUrl"] = url
        return fields

    def _other_window_export(
        self, exchange: Exchange, config: SandboxConfig, ctx: _Context, reply: Reply, fault: Fault
    ) -> Reply:
        """A create answered with another request's export, as a cache blind to dates would.

        Without `process`, the request's own export is not kept (as if never created).
        """
        own = ctx.export_id
        key = canonical_json(ctx.body) if isinstance(ctx.body, dict) else None
        others = [
            r
            for r in self._registry.all()
            if r.export_id != own
            and r.body_key != key
            and self._lookup(exchange, r.export_id) is not None
        ]
        if not others or reply.status not in CREATE_STATUS_CODES:
            return reply  # nothing to mix up with: served as asked
        if not fault.process and own is not None:
            self._registry.drop(own)
        other = others[-1]
        ctx.export_id = other.export_id
        return _json(200, self._status_body(other, config, MSG_DUPLICATE))

    def _other_export(self, exchange: Exchange, config: SandboxConfig, export_id: str) -> Reply:
        """A misrouted poll answer: another export's, COMPLETED if the sandbox has one."""
        others = [
            r
            for r in self._registry.all()
            if r.export_id != export_id and self._lookup(exchange, r.export_id) is not None
        ]
        done = [r for r in others if r.status(config.export_seconds) == COMPLETED]
        if done or others:
            other = (done or others)[-1]
            return _json(200, self._status_body(other, config, STATUS_MESSAGES[COMPLETED]))
        body = {
            "exportId": OTHER_EXPORT_ID,
            "status": _cased(COMPLETED, config),
            "message": STATUS_MESSAGES[COMPLETED],
        }
        return _json(200, body)

    @staticmethod
    def _reported_status(record: ExportRecord, config: SandboxConfig) -> str:
        status = UNKNOWN_STATUS if config.unknown_status else record.status(config.export_seconds)
        return _cased(status, config)

    def _blob_signature(self, export_id: str) -> str:
        return hmac.new(self._blob_salt.encode(), export_id.encode(), "sha256").hexdigest()[:32]

    def _generate(self, record: ExportRecord) -> None:
        """Write the export's file in the background; COMPLETED waits for it."""
        try:
            path = self._workdir / f"{_file_stem(record.export_id)}.csv.gz"
            record.file = write_export_file(record.request, record.config, path)
        except Exception as e:  # reported as a FAILED export
            if self._stopping.is_set():
                return
            record.error = f"{type(e).__name__}: {e}"
            with self._lock:
                self._errors.append(traceback.format_exc())
        finally:
            record.ready.set()

    def _variant(self, record: ExportRecord, kind: str) -> ExportFile:
        """The damaged copy of the export's file for a malformed-download fault."""
        with record.lock:
            variant = record.variants.get(kind)
            if variant is None:
                assert record.file is not None  # noqa: S101 - checked by the caller
                path = self._workdir / f"{_file_stem(record.export_id)}.{kind}.csv.gz"
                variant = write_malformed(
                    record.file, kind, path, secret=record.config.api_key, request=record.request
                )
                record.variants[kind] = variant
            return variant

    def _log_request(self, exchange: Exchange, ctx: _Context, reply: Reply) -> None:
        entry = RequestRecord(
            endpoint=ctx.endpoint,
            method=exchange.method,
            path=exchange.path,
            query=dict(exchange.query),
            status=None if reply.drop else reply.status,
            export_id=ctx.export_id,
            body=ctx.body,
            auth_valid=ctx.auth_valid,
            auth_present=ctx.auth_present,
            fault=ctx.fault.kind if ctx.fault is not None else None,
            at=time.time(),
            content_type=exchange.content_type,
        )
        with self._lock:
            self._log.append(entry)


def _api_host(config: SandboxConfig) -> str:
    """The host name of the API in URLs (loopback when bound to a wildcard)."""
    if config.host in ("0.0.0.0", "::", ""):
        return "127.0.0.1"
    return f"[{config.host}]" if ":" in config.host else config.host


def _file_stem(export_id: str) -> str:
    """A file name safe whatever the id (ids may be made hostile on purpose)."""
    digest = hashlib.sha256(export_id.encode()).hexdigest()[:16]
    return f"{re.sub(r'[^A-Za-z0-9_-]', '_', export_id)[:40]}-{digest}"


def _route(path: str, base_path: str) -> tuple[EndpointKind, str | None]:
    """The endpoint of `path`; only paths under `base_path` (and `/healthz`) have one."""
    clean = path.rstrip("/") or "/"
    for endpoint, pattern in _ROUTES:
        match = re.fullmatch(pattern.format(base=re.escape(base_path)), clean)
        if match is not None:
            return endpoint, match.groupdict().get("id")
    return "other", None


def _check_scope(scope: Mapping[str, str], config: SandboxConfig, org: str, project: str) -> None:
    """Refuse a team or org tree the sandbox does not know, naming it, as the API would."""
    team, tree = scope.get("teamId"), scope.get("orgTreeName")
    if team is not None and team not in config.teams:
        msg = f"scope.teamId {team!r} is not a team of project {project!r} in org {org!r}"
        raise InvalidRequestError(msg)
    if tree is not None and tree not in config.org_trees:
        msg = f"scope.orgTreeName {tree!r} is not an org tree of org {org!r}"
        raise InvalidRequestError(msg)


def _refusal(exchange: Exchange, ctx: _Context, config: SandboxConfig) -> Reply | None:
    """The 404/405/401/400/403 a request gets before it reaches an endpoint, if any."""
    if ctx.endpoint == "other":
        return _error(404, f"no route for {exchange.path}")
    allowed = _METHODS[ctx.endpoint]
    if exchange.method != allowed:
        reply = _error(405, f"{exchange.method} is not allowed here")
        reply.headers.append(("Allow", allowed))
        return reply
    if ctx.endpoint in ("health", "blob"):  # open: readiness probes and pre-signed URLs
        return None
    if not ctx.auth_valid:
        return _error(401, "Invalid API key", code="UNAUTHORIZED")
    return _identifiers_refusal(exchange, config)


def _identifiers_refusal(exchange: Exchange, config: SandboxConfig) -> Reply | None:
    """400 without both identifiers; 403 for a project the key may not use."""
    missing = [n for n in ("projectIdentifier", "orgIdentifier") if not exchange.query.get(n)]
    if missing:
        return _error(400, f"query parameter(s) required: {', '.join(missing)}")
    org, project = exchange.query["orgIdentifier"], exchange.query["projectIdentifier"]
    if config.projects is not None and (org, project) not in config.projects:
        message = f"project {project!r} of org {org!r} is not accessible with this API key"
        return _error(403, message, code="ACCESS_DENIED")
    return None


def _cased(status: str, config: SandboxConfig) -> str:
    return status.lower() if config.status_case == "lower" else status


def _metadata(record: ExportRecord) -> dict[str, object]:
    """The request an answer is about, as the Sprint page's `metadata` shows it."""
    return {
        "scope": dict(record.request.scope),
        "dateRange": {
            "start": record.request.start.isoformat(),
            "end": record.request.end.isoformat(),
        },
        "options": {
            "aggregationLevel": record.request.aggregation_level,
            "granularity": record.request.granularity,
            "terminalDateColumn": record.request.terminal_date_column,
        },
    }


def _json(
    status: int, payload: Mapping[str, object], headers: Iterable[tuple[str, str]] = ()
) -> Reply:
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    return Reply(status, [("Content-Type", "application/json"), *headers], body)


def _error(status: int, message: str, *, code: str | None = None) -> Reply:
    correlation_id = str(uuid.uuid4())
    payload = {
        "code": code or _ERROR_CODES.get(status, "ERROR"),
        "message": message,
        "correlationId": correlation_id,
    }
    return _json(status, payload, [("X-Correlation-Id", correlation_id)])


def _fault_reply(fault: Fault, config: SandboxConfig) -> Reply:
    if fault.kind == "drop":
        return Reply(0, drop=True)
    if fault.kind == "html":
        return Reply(502, [("Content-Type", "text/html; charset=utf-8")], _HTML_502)
    if fault.kind == "non_json":
        return Reply(200, [("Content-Type", "application/json")], _NON_JSON)
    if fault.kind == "nested_json":
        return Reply(200, [("Content-Type", "application/json")], _NESTED_JSON)
    if fault.kind == "huge_json":
        return _json(200, {"exportId": "exp_HUGE0001", "status": "QUEUED", "pad": "x" * fault.size})
    status = STATUS_KINDS[fault.kind]
    reply = _error(status, f"sandbox fault {fault.kind}")
    if fault.kind == "429":
        seconds = config.retry_after_seconds if fault.retry_after is None else fault.retry_after
        reply.headers.append(("Retry-After", str(seconds)))
    return reply


def _huge_reply(fault: Fault) -> Reply:
    """A download of `fault.size` bytes made to overflow a limit: a bomb, or a huge line."""
    if fault.kind == "gzip_bomb":
        return Reply(200, [("Content-Type", _GZIP_TYPE)], gzip_bomb(fault.size))
    return Reply(200, [("Content-Type", _CSV_TYPE)], plain_huge_line(fault.size))


def _file_reply(export_id: str, export_file: ExportFile, kind: str | None) -> Reply:
    """The download answer: gzip as stored, or as the fault `kind` bends it."""
    headers = [("Content-Disposition", f'attachment; filename="{export_id}.csv.gz"')]
    if kind == "plain":
        headers = [("Content-Disposition", f'attachment; filename="{export_id}.csv"')]
        return Reply(
            200,
            [("Content-Type", _CSV_TYPE), *headers],
            file=export_file.path,
            gunzip=True,
            length=export_file.plain_size,
        )
    if kind == "content_encoding_gzip":
        headers += [("Content-Type", _CSV_TYPE), ("Content-Encoding", "gzip")]
    else:
        headers.append(("Content-Type", _GZIP_TYPE))
    reply = Reply(200, headers, file=export_file.path, length=export_file.gzip_size)
    if kind == "cut":
        reply.send_bytes = export_file.gzip_size // 2
    return reply
