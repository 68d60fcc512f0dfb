"""Downloaded files: private, gzip told by its magic bytes, a cut file refused whole."""

from __future__ import annotations

import gzip
import itertools
import re
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tap_sei_time_in_status.api.client import CorruptDownloadError
from tap_sei_time_in_status.api.limits import LimitExceededError, SizeLimits
from tap_sei_time_in_status.export.downloads import private_temp_file, to_plain_csv
from tap_sei_time_in_status.export.line_limit import LineLimit

CSV = b"granularity,team\r\nJan 2026,A\r\n" * 1000


def test_temp_files_are_private(tmp_path: Path) -> None:
    path = private_temp_file(tmp_path, "sei-", ".csv")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_gzip_and_plain_bodies_both_become_the_csv(tmp_path: Path) -> None:
    gz = tmp_path / "a.download"
    gz.write_bytes(gzip.compress(CSV))
    to_plain_csv(gz, tmp_path / "a.csv")
    assert (tmp_path / "a.csv").read_bytes() == CSV
    plain = tmp_path / "b.download"
    plain.write_bytes(CSV)
    to_plain_csv(plain, tmp_path / "b.csv")
    assert (tmp_path / "b.csv").read_bytes() == CSV


@pytest.mark.parametrize("keep", [0.5, 0.99])
def test_a_cut_gzip_is_refused(tmp_path: Path, keep: float) -> None:
    body = gzip.compress(CSV)
    cut = tmp_path / "c.download"
    cut.write_bytes(body[: int(len(body) * keep)])
    with pytest.raises(CorruptDownloadError):
        to_plain_csv(cut, tmp_path / "c.csv")


def test_a_damaged_gzip_is_refused(tmp_path: Path) -> None:
    body = bytearray(gzip.compress(CSV))
    body[-6] ^= 0xFF  # the CRC32 trailer
    bad = tmp_path / "d.download"
    bad.write_bytes(bytes(body))
    with pytest.raises(CorruptDownloadError):
        to_plain_csv(bad, tmp_path / "d.csv")


def test_gzip_inside_gzip_and_several_members_become_the_csv(tmp_path: Path) -> None:
    bodies = {
        "nested": gzip.compress(gzip.compress(CSV)),
        "members": gzip.compress(CSV[:1000]) + gzip.compress(CSV[1000:]),
        "padded": gzip.compress(CSV) + b"\0" * 512,
    }
    for name, body in bodies.items():
        raw = tmp_path / f"{name}.download"
        raw.write_bytes(body)
        to_plain_csv(raw, tmp_path / f"{name}.csv")
        assert (tmp_path / f"{name}.csv").read_bytes() == CSV, name
        assert sorted(p.name for p in tmp_path.iterdir() if p.stem == name) == [f"{name}.csv"]


def test_a_gzip_bomb_stops_after_the_first_mebibyte(tmp_path: Path) -> None:
    raw = tmp_path / "bomb.download"
    raw.write_bytes(gzip.compress(b"\0" * (64 << 20), 9))
    with pytest.raises(LimitExceededError, match="max_decompression_ratio"):
        to_plain_csv(raw, tmp_path / "bomb.csv", SizeLimits(), "export x")
    assert (tmp_path / "bomb.csv").stat().st_size <= 2 << 20


@given(
    lines=st.lists(st.integers(min_value=0, max_value=40), min_size=1, max_size=30),
    cuts=st.lists(st.integers(min_value=0, max_value=1200), max_size=8),
    limit=st.integers(min_value=1, max_value=30),
)
def test_the_line_limit_finds_the_first_long_line_however_the_bytes_are_cut(
    lines: list[int], cuts: list[int], limit: int
) -> None:
    data = b"\n".join(b"x" * n for n in lines)
    edges = sorted({0, len(data), *(c for c in cuts if c < len(data))})
    check = LineLimit(limit, "export exp_1")
    too_long = [i + 1 for i, n in enumerate(lines) if n > limit]

    def feed_all() -> None:
        for start, end in itertools.pairwise(edges):
            check.feed(data[start:end])

    if not too_long:
        feed_all()
        return
    message = f"export exp_1, line {too_long[0]}: longer than {limit:,} bytes"
    with pytest.raises(LimitExceededError, match=re.escape(message)):
        feed_all()


def test_gzip_inside_gzip_is_line_checked_once_inflated(tmp_path: Path) -> None:
    # The outer layer inflates to gzip (no lines to speak of); the CSV inside is checked.
    raw = tmp_path / "a.download"
    raw.write_bytes(gzip.compress(gzip.compress(b"header\n" + b"x" * 5000)))
    with pytest.raises(LimitExceededError, match="line 2: longer than 4,096 bytes"):
        to_plain_csv(raw, tmp_path / "a.csv", SizeLimits(max_csv_line_bytes=4096), "export exp_1")
    raw.write_bytes(gzip.compress(gzip.compress(CSV)))
    to_plain_csv(raw, tmp_path / "a.csv", SizeLimits(max_csv_line_bytes=64), "export exp_1")
    assert (tmp_path / "a.csv").read_bytes() == CSV
