"""The tap: settings checked first, two streams fed by one export per window."""

from __future__ import annotations

import atexit
import io
import os
import sys
import threading
import typing as t
from functools import cached_property
from pathlib import PurePath
from types import FrameType

import click
from singer_sdk import Stream, Tap
from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.helpers.capabilities import (
    CapabilitiesEnum,
    PluginCapabilities,
    TapCapabilities,
)
from singer_sdk.tap_base import CliTestOptionValue
from typing_extensions import override

from tap_sei_time_in_status.api.cancellation import StopSwitch
from tap_sei_time_in_status.api.client import ExportApiClient
from tap_sei_time_in_status.api.limits import SizeLimits
from tap_sei_time_in_status.api.retries import RetryPolicy
from tap_sei_time_in_status.api.secrets_guard import SecretGuard, install_redaction
from tap_sei_time_in_status.errors import SeiTapError, report_handled_errors_once
from tap_sei_time_in_status.export.connection_test import run_connection_test
from tap_sei_time_in_status.export.temp_area import TempArea
from tap_sei_time_in_status.input_files import parse_json_object, read_json_object_file
from tap_sei_time_in_status.output.state import EXPECTED_STATE, check_state_shape
from tap_sei_time_in_status.settings import (
    CatalogSettings,
    Settings,
    SettingsError,
    coerce_number_strings,
    parse_catalog_settings,
    parse_settings,
    unknown_settings,
)
from tap_sei_time_in_status.settings_schema import config_jsonschema
from tap_sei_time_in_status.streams import TimeInStatusByStatusStream, TimeInStatusStream

#: After a stop signal, threads get this long to end before the process exits regardless.
STOP_GRACE_SECONDS = 5.0


class TapSeiTimeInStatus(Tap):
    """Harness SEI issue time-in-status analytics, exported window by window."""

    name = "tap-sei-time-in-status"
    config_jsonschema = config_jsonschema()
    message_writer_class = MsgSpecWriter
    # Discovery checks only what the catalog depends on (`issue_statuses`,
    # `aggregation_level`), so `meltano select --list` works without a key or a scope; a sync
    # checks every setting when the tap starts, before its first request.
    dynamic_catalog = False
    # BATCH files are written window by window (batch_output), each window's STATE after its
    # last file. No ACTIVATE_VERSION: the stream is incremental, never a full-table replace.
    capabilities: t.ClassVar[list[CapabilitiesEnum]] = [
        PluginCapabilities.BATCH,
        TapCapabilities.CATALOG,
        TapCapabilities.STATE,
        TapCapabilities.DISCOVER,
        PluginCapabilities.ABOUT,
        PluginCapabilities.STREAM_MAPS,
        PluginCapabilities.FLATTENING,
        PluginCapabilities.STRUCTURED_LOGGING,
        TapCapabilities.TEST,
    ]

    @override
    def __init__(self, *, state: object = None, **kwargs: t.Any) -> None:
        """As singer-sdk's, but a state that is no JSON object is refused.

        singer-sdk would take `[]` for an empty state and `[1]` for a file path (a string is a
        path, as singer-sdk reads it).
        """
        if not isinstance(state, (dict, str, PurePath)) and state is not None:
            check_state_shape(state)
        super().__init__(state=t.cast("dict[str, t.Any] | None", state), **kwargs)

    @cached_property
    def stop_switch(self) -> StopSwitch:
        """Set by SIGTERM/SIGINT: every thread stops waiting and no request leaves after it."""
        return StopSwitch()

    @cached_property
    def temp_area(self) -> TempArea:
        """The run's temporary files, removed when the exports end (at exit, should that fail)."""
        area = TempArea(self.logger)
        atexit.register(area.remove)
        return area

    @cached_property
    def settings(self) -> Settings:
        """The validated settings; a bad one ends the run with a message, not a traceback."""
        try:
            settings = parse_settings(self.config)
        except SettingsError as e:
            raise ConfigValidationError("Invalid settings", errors=e.errors) from None
        # From here on no log line, error or traceback shows the key, in any case.
        install_redaction(SecretGuard(settings.api_key), self.logger)
        return settings

    @cached_property
    def catalog_settings(self) -> CatalogSettings:
        """The settings the catalog depends on, checked on their own for discovery."""
        try:
            return parse_catalog_settings(self.config)
        except SettingsError as e:
            raise ConfigValidationError("Invalid settings", errors=e.errors) from None

    @override
    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        """Check the tap's own settings first, all at once, each message naming its setting.

        singer-sdk's JSON-schema check would stop at the first kind of problem and does not
        check dates; it still checks the built-in settings (stream maps, flattening).
        """
        coerce_number_strings(self._config)  # for the SDK's own schema check below
        for warning in unknown_settings(
            self._config,
            self._known_settings(),
            environ=os.environ,
            env_prefix=self._env_var_prefix,
        ):
            self.logger.warning("%s", warning)
        try:
            _ = self.settings
        except ConfigValidationError as e:
            if raise_errors:
                raise
            return e.errors
        return super()._validate_config(raise_errors=raise_errors)

    @override
    def load_state(self, state: dict[str, t.Any]) -> None:
        """Refuse a state of another shape than this tap's before singer-sdk reads it as empty.

        Called once the settings are checked, so that the key is redacted from the message.
        """
        check_state_shape(state)
        super().load_state(state)

    @classmethod
    def _known_settings(cls) -> set[str]:
        """The tap's settings and singer-sdk's built-in ones, as `--about` lists them."""
        schema = cls.config_jsonschema
        cls.append_builtin_config(schema)
        return set(schema["properties"])

    @classmethod
    @override
    def invoke(  # type: ignore[override]
        cls,
        *,
        about: bool = False,
        about_format: str | None = None,
        config: t.Any = None,
        state: t.IO[str] | None = None,
        catalog: t.IO[str] | None = None,
    ) -> None:
        """Run as singer-sdk does, but report an actionable error as one line, exit code 1.

        The `--state` and `--catalog` files are read here first: one that is not a JSON
        object (or, for the state, not a Singer state) is such an error.
        """
        try:
            state = _checked_json(state, "--state", EXPECTED_STATE)
            catalog = _checked_json(catalog, "--catalog")
            super().invoke(
                about=about, about_format=about_format, config=config, state=state, catalog=catalog
            )
        except SeiTapError as e:
            cls.logger.error("%s", e)  # noqa: TRY400 - the message is the whole story
            sys.exit(1)

    @classmethod
    @override
    def cb_config(cls, ctx: click.Context, param: click.Option, value: tuple[str, ...]) -> t.Any:
        """Read the `--config` files as singer-sdk does, once each is known to be an object.

        singer-sdk reads them while parsing the command line, before `invoke`: a file that is
        not a JSON object is reported here, in one line, and the run exits 1.
        """
        try:
            for path in value:
                if path != "ENV":
                    read_json_object_file(path, "--config")
        except SeiTapError as e:
            cls.logger.error("%s", e)  # noqa: TRY400 - the message is the whole story
            ctx.exit(1)
        return super().cb_config(ctx, param, value)

    @classmethod
    @override
    def cb_discover(cls, ctx: click.Context, param: click.Option, value: bool) -> None:
        """Discover as singer-sdk does; a bad catalog setting is a message, not a traceback."""
        try:
            super().cb_discover(ctx, param, value)
        except ConfigValidationError as e:
            for error in e.errors:
                cls.logger.error("%s", error)  # noqa: TRY400 - the message is the whole story
            ctx.exit(1)

    @classmethod
    @override
    def cb_test(cls, ctx: click.Context, param: click.Option, value: str) -> None:
        """`--test`: the connection test of `connection_test`, which exports nothing.

        `--test=schema` stays singer-sdk's (SCHEMA messages only).
        """
        if value != CliTestOptionValue.All.value:
            super().cb_test(ctx, param, value)
            return
        config: t.Any = ctx.params.get("config")
        try:
            tap = cls(
                config=config.config if config else None,
                parse_env_config=bool(config and config.parse_env),
                validate_config=True,
                setup_mapper=False,
            )
            with tap.api_client() as client:
                run_connection_test(tap.settings, client, tap.logger)
        except ConfigValidationError as e:
            for error in e.errors:
                cls.logger.error("%s", error)  # noqa: TRY400 - the message is the whole story
            ctx.exit(1)
        except SeiTapError as e:
            cls.logger.error("%s", e)  # noqa: TRY400 - the message is the whole story
            ctx.exit(1)
        ctx.exit()

    def api_client(self) -> ExportApiClient:
        """A client of the configured API, as a sync uses it."""
        settings = self.settings
        return ExportApiClient(
            base_url=settings.base_url,
            api_key=settings.api_key,
            org_identifier=settings.org_identifier,
            project_identifier=settings.project_identifier,
            timeout_seconds=settings.request_timeout_seconds,
            min_download_bytes_per_second=settings.min_download_bytes_per_second,
            retry_policy=RetryPolicy(budget_seconds=settings.max_request_retry_seconds),
            limits=SizeLimits.from_settings(settings),
            stop=self.stop_switch,
            logger=self.logger,
            requests_per_minute=settings.max_requests_per_minute,
            max_connections=1
            + (settings.max_concurrent_exports or settings.concurrent_exports_ceiling),
        )

    @override
    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:
        """Stop on SIGTERM/SIGINT with exit code 128 + signal: an interrupted sync failed.

        No state is written here: every window boundary already wrote its STATE, and the
        windows in progress must not be bookmarked. Export threads are woken (their sockets
        shut, their waits cut); should one not end within `STOP_GRACE_SECONDS`, the process
        removes its temporary files and exits anyway.
        """
        code = 128 + signum
        self.logger.warning(
            "Stopped by signal %d; the state of the last finished window stands", signum
        )
        deadline = threading.Timer(STOP_GRACE_SECONDS, _exit_now, (code, self.temp_area))
        deadline.daemon = True
        deadline.start()
        self.stop_switch.stop()
        raise SystemExit(code)

    @override
    def discover_streams(self) -> t.Sequence[Stream]:
        streams = [
            TimeInStatusStream(self, self.catalog_settings),
            TimeInStatusByStatusStream(self, self.catalog_settings),
        ]
        for stream in streams:
            report_handled_errors_once(stream.logger)
        return streams


def _checked_json(file: t.IO[str] | None, option: str, expected: str = "") -> t.IO[str] | None:
    """The file's text again, once it is known to hold a JSON object.

    A state's shape is checked when the tap loads it (`load_state`), the key redacted.
    """
    if file is None:
        return None
    what = f"{option} {getattr(file, 'name', '')}".rstrip()
    try:
        text = file.read()
    except UnicodeDecodeError as e:
        msg = f"{what} is not UTF-8 text ({e.reason} at byte {e.start:,})"
        raise SeiTapError(msg) from None
    parse_json_object(text, what, expected)
    return io.StringIO(text)


def _exit_now(code: int, temp_area: TempArea) -> None:
    """The last resort of a stop: a thread did not end in time."""
    temp_area.remove()
    os._exit(code)


if __name__ == "__main__":
    TapSeiTimeInStatus.cli()
