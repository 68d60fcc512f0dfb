"""Downloaded export files: fetched into private temporary files, gzip told apart by its magic.

An export's file is downloaded, and decompressed, into files only the tap's user can read; a
cut, corrupt or wrongly sized file is downloaded again, a few times (`ExportDownloader`).
The API compresses by default but may also send plain CSV, or gzip with `Content-Encoding`
on top (the tap reads the body as sent, so that is gzip inside gzip); headers cannot be
trusted to say which, the first two bytes can. Decompression is bounded by the size limits,
so a gzip bomb stops after a megabyte, not when the disk is full; and so is the CSV's line
length, checked as the CSV inflates or, for a plain download, as it comes in. A file is only
handed to the parser once it has decompressed completely, so a cut download is never half
emitted.
"""

from __future__ import annotations

import io
import os
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from typing_extensions import Buffer, override

from tap_sei_time_in_status.api.client import CorruptDownloadError, ExportApiClient
from tap_sei_time_in_status.api.limits import SizeLimits
from tap_sei_time_in_status.errors import SeiTapError
from tap_sei_time_in_status.export.line_limit import LineLimit
from tap_sei_time_in_status.export.temp_area import local_disk_error
from tap_sei_time_in_status.log_limits import RepeatedWarnings, WarningSink

GZIP_MAGIC = b"\x1f\x8b"
READ_BUFFER = 1 << 16
#: Most bytes one step of decompression may produce.
INFLATE_STEP = 1 << 20
#: gzip inside gzip is what `Content-Encoding: gzip` over a gzip file gives; no more.
MAX_GZIP_LAYERS = 2
DOWNLOAD_ATTEMPTS = 3


def private_temp_file(directory: Path | None, prefix: str, suffix: str) -> Path:
    """A new empty file readable by its owner only (mkstemp creates it 0600)."""
    fd, name = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=directory)
    os.close(fd)
    return Path(name)


@dataclass(frozen=True)
class ExportDownloader:
    """One window's downloads: each export's file into a private CSV, again if it is corrupt."""

    client: ExportApiClient
    limits: SizeLimits
    #: What every message names first (the window's request).
    about: object
    #: The window's capped warnings, and the client's retry warnings among them.
    warnings: RepeatedWarnings
    retry_log: WarningSink
    workdir: Path | None = None
    deadline: float | None = None

    def download(self, export_id: str, expected_size: int | None = None) -> tuple[Path, int]:
        """The export's complete CSV in a private temporary file, and the bytes downloaded.

        `expected_size` is the `download.sizeBytes` the completed answer stated, if any. A
        file corrupt `DOWNLOAD_ATTEMPTS` times in a row raises `CorruptDownloadError`.
        """
        prefix = "sei-export-"  # never a name built from the id: it comes from the server
        last_problem = ""
        what = f"the download of export {export_id}"
        directory = self.workdir or Path(tempfile.gettempdir())
        for attempt in range(1, DOWNLOAD_ATTEMPTS + 1):
            try:
                raw = private_temp_file(self.workdir, prefix, ".download")
            except OSError as e:
                raise self._local_error(e, directory) from None
            try:
                csv_path = private_temp_file(self.workdir, prefix, ".csv")
            except OSError as e:
                raw.unlink(missing_ok=True)
                raise self._local_error(e, directory) from None
            try:
                with CheckedDownload(raw, self.limits, what) as sink:
                    size = self.client.download_export(
                        export_id,
                        sink,
                        expected_size=expected_size,
                        deadline=self.deadline,
                        log=self.retry_log,
                    )
                to_plain_csv(raw, csv_path, self.limits, what)
            except OSError as e:  # a write to the disk, not the network (the client says so)
                csv_path.unlink(missing_ok=True)
                raise self._local_error(e, directory) from None
            except CorruptDownloadError as e:
                csv_path.unlink(missing_ok=True)
                self.warnings.note(
                    "corrupt downloads",
                    "%s: download %d of %d of export %s is corrupt (%s)",
                    self.about,
                    attempt,
                    DOWNLOAD_ATTEMPTS,
                    export_id,
                    e,
                )
                last_problem = str(e)
                continue
            except BaseException:
                csv_path.unlink(missing_ok=True)
                raise
            finally:
                raw.unlink(missing_ok=True)
            return csv_path, size
        msg = (
            f"export {export_id} downloaded corrupt {DOWNLOAD_ATTEMPTS} times in a row "
            f"(last: {last_problem})"
        )
        raise CorruptDownloadError(msg)

    def _local_error(self, error: OSError, directory: Path) -> SeiTapError:
        local = local_disk_error(error, directory)
        return type(local)(f"{self.about}: {local} Nothing of this window was emitted.")


class CsvLines:
    """The line limit on a stream that is either a plain CSV or gzip (left to inflate)."""

    def __init__(self, max_line_bytes: int, what: str) -> None:
        self._limit: LineLimit | None = LineLimit(max_line_bytes, what)
        self._head = b""  # the first bytes, until there are two to tell gzip by

    def feed(self, data: bytes) -> None:
        """Check `data`'s lines if the stream is a plain CSV; raise once one is too long."""
        if self._limit is None:
            return
        if len(self._head) < len(GZIP_MAGIC):
            self._head += data
            if len(self._head) < len(GZIP_MAGIC):
                return
            if self._head.startswith(GZIP_MAGIC):
                self._limit = None
                return
            data, self._head = self._head, self._head[: len(GZIP_MAGIC)]
        self._limit.feed(data)


class CheckedDownload(io.FileIO):
    """The file a download is written to, refusing a plain CSV's overlong line as it comes.

    Writing at the start of the file (a download tried again) starts the check over.
    """

    def __init__(self, path: Path, limits: SizeLimits, what: str) -> None:
        super().__init__(path, "r+")
        self._limits = limits
        self._what = what
        self._lines = CsvLines(limits.max_csv_line_bytes, what)

    @override
    def write(self, data: Buffer, /) -> int:
        if self.tell() == 0:
            self._lines = CsvLines(self._limits.max_csv_line_bytes, self._what)
        self._lines.feed(bytes(data))
        return super().write(data)


def is_gzip(path: Path) -> bool:
    """True when the file starts with the gzip magic bytes."""
    with path.open("rb") as f:
        return f.read(2) == GZIP_MAGIC


def to_plain_csv(
    raw: Path, csv_path: Path, limits: SizeLimits | None = None, what: str = "the export"
) -> None:
    """Put the CSV held by `raw` (gzip, gzip in gzip, or plain) at `csv_path`.

    gzip integrity (length and CRC) is checked; `raw` is consumed. Writes that fail raise
    `OSError` as is: a full disk is not a corrupt download.
    """
    limits = limits or SizeLimits()
    downloaded = raw.stat().st_size
    current = raw
    for layer in range(MAX_GZIP_LAYERS):
        if not is_gzip(current):
            break
        target = csv_path if layer == 0 else csv_path.with_suffix(f".layer{layer}")
        gunzip(current, target, limits, downloaded, what)
        current.unlink()
        if layer:
            os.replace(target, csv_path)
        current = csv_path
    if current != csv_path:
        os.replace(current, csv_path)


def gunzip(src: Path, dst: Path, limits: SizeLimits, downloaded: int, what: str) -> None:
    """Inflate every gzip member of `src` into `dst`, within the size limits.

    The ratio is judged against the bytes actually consumed, so a bomb is caught after the
    first megabyte it inflates to.
    """
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
    lines = CsvLines(limits.max_csv_line_bytes, what)  # unless it inflates to gzip again
    consumed = written = 0
    member_done = False
    with src.open("rb") as source, dst.open("wb") as sink:
        data = source.read(READ_BUFFER)
        while data:
            if member_done:
                if not data.strip(b"\0"):  # zero padding after the last member is allowed
                    data = source.read(READ_BUFFER)
                    continue
                inflater, member_done = zlib.decompressobj(zlib.MAX_WBITS | 16), False
            try:
                out = inflater.decompress(data, INFLATE_STEP)
            except zlib.error as e:
                msg = f"the downloaded file is not a complete gzip stream ({e})"
                raise CorruptDownloadError(msg) from None
            left = inflater.unused_data if inflater.eof else inflater.unconsumed_tail
            consumed += len(data) - len(left)
            if out:
                written += len(out)
                limits.check_inflated(written, min(consumed, downloaded), what)
                lines.feed(out)
                sink.write(out)
            member_done = inflater.eof
            data = left or source.read(READ_BUFFER)
    if not member_done:
        msg = "the downloaded file is not a complete gzip stream (it ends too early)"
        raise CorruptDownloadError(msg)
