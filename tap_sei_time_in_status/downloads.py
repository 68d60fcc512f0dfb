"""Downloaded export files: private temporary files, and gzip told apart by its magic bytes.

The API compresses by default but may also send plain CSV, or gzip with `Content-Encoding`
on top; headers cannot be trusted to say which, the first two bytes can. A file is only
handed to the parser once it has decompressed completely, so a cut download is never
half emitted.
"""

from __future__ import annotations

import gzip
import os
import shutil
import tempfile
import zlib
from pathlib import Path

from tap_sei_time_in_status.errors import SeiTapError

GZIP_MAGIC = b"\x1f\x8b"
COPY_BUFFER = 1 << 20


class CorruptDownloadError(SeiTapError):
    """The downloaded bytes are not a complete gzip stream (a cut or damaged download)."""


def private_temp_file(directory: Path | None, prefix: str, suffix: str) -> Path:
    """A new empty file readable by its owner only (mkstemp creates it 0600)."""
    fd, name = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=directory)
    os.close(fd)
    return Path(name)


def is_gzip(path: Path) -> bool:
    """True when the file starts with the gzip magic bytes."""
    with path.open("rb") as f:
        return f.read(2) == GZIP_MAGIC


def to_plain_csv(raw: Path, csv_path: Path) -> None:
    """Put the CSV held by `raw` (gzip or plain) at `csv_path`, checking gzip integrity.

    A plain file is moved, not copied; `raw` is left in place only when it was gzip.
    """
    if not is_gzip(raw):
        os.replace(raw, csv_path)
        return
    try:
        with gzip.open(raw, "rb") as src, csv_path.open("wb") as dst:
            shutil.copyfileobj(src, dst, COPY_BUFFER)
    except (EOFError, OSError, zlib.error) as e:
        msg = f"the downloaded file is not a complete gzip stream ({e})"
        raise CorruptDownloadError(msg) from None
