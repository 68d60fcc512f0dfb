"""Size limits on what a server may make the tap download, inflate or parse.

A few kilobytes of gzip can inflate to gigabytes, and a broken gateway can answer a status
poll with megabytes: without a bound either fills the disk or the memory. Each limit has a
setting to raise it, named in the error it raises.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass

from tap_sei_time_in_status.errors import SeiTapError

if t.TYPE_CHECKING:
    from tap_sei_time_in_status.settings import Settings

#: The ratio is judged once this much has been inflated: small files have any ratio.
RATIO_FLOOR_BYTES = 1 << 20


class LimitExceededError(SeiTapError):
    """A download, a decompressed file or an answer is larger than a setting allows."""


@dataclass(frozen=True)
class SizeLimits:
    """The bounds of one sync; the defaults are the settings' defaults."""

    max_download_bytes: int = 4 << 30
    max_decompressed_bytes: int = 32 << 30
    max_decompression_ratio: float = 200.0
    max_json_answer_bytes: int = 1 << 20
    max_csv_line_bytes: int = 1 << 20

    @classmethod
    def from_settings(cls, settings: Settings) -> SizeLimits:
        """The limits the user configured."""
        return cls(
            max_download_bytes=settings.max_download_bytes,
            max_decompressed_bytes=settings.max_decompressed_bytes,
            max_decompression_ratio=settings.max_decompression_ratio,
            max_json_answer_bytes=settings.max_json_answer_bytes,
            max_csv_line_bytes=settings.max_csv_line_bytes,
        )

    def check_download(self, size: int, what: str) -> None:
        """Refuse a download past `max_download_bytes`."""
        if size > self.max_download_bytes:
            msg = (
                f"{what} is larger than max_download_bytes ({self.max_download_bytes:,} "
                "bytes); raise max_download_bytes if the export is really that large."
            )
            raise LimitExceededError(msg)

    def check_inflated(self, inflated: int, compressed: int, what: str) -> None:
        """Refuse a file that inflates past `max_decompressed_bytes` or the ratio."""
        if inflated > self.max_decompressed_bytes:
            msg = (
                f"{what} decompresses to more than max_decompressed_bytes "
                f"({self.max_decompressed_bytes:,} bytes); raise max_decompressed_bytes if "
                "the export is really that large."
            )
            raise LimitExceededError(msg)
        ratio = inflated / max(compressed, 1)
        if inflated >= RATIO_FLOOR_BYTES and ratio > self.max_decompression_ratio:
            msg = (
                f"{what} decompresses {ratio:,.0f} times its compressed size (a gzip bomb?), "
                f"more than max_decompression_ratio ({self.max_decompression_ratio:g}); "
                "raise max_decompression_ratio if the export is genuine."
            )
            raise LimitExceededError(msg)

    def check_json(self, size: int, what: str) -> None:
        """Refuse an API answer past `max_json_answer_bytes` before parsing it."""
        if size > self.max_json_answer_bytes:
            msg = (
                f"{what} answered more than max_json_answer_bytes "
                f"({self.max_json_answer_bytes:,} bytes); raise max_json_answer_bytes if "
                "the server's answers are really that large."
            )
            raise LimitExceededError(msg)
