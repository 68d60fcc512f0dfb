"""Downloaded files: private, gzip told by its magic bytes, a cut file refused whole."""

from __future__ import annotations

import gzip
import stat
from pathlib import Path

import pytest

from tap_sei_time_in_status.api.client import CorruptDownloadError
from tap_sei_time_in_status.api.limits import LimitExceededError, SizeLimits
from tap_sei_time_in_status.export.downloads import private_temp_file, to_plain_csv

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
