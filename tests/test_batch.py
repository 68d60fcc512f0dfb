"""BATCH output: bounded files per window, each window's STATE after its last file."""

from __future__ import annotations

import collections
import gzip
import json
import signal
import subprocess
import typing as t
from pathlib import Path
from urllib.parse import urlparse

from tap_sei_time_in_status.sandbox import SandboxServer
from tests.conftest import tap_config
from tests.tap_runner import TapRun, selecting, tap_command

Tap = t.Callable[..., TapRun]
LONG = "time_in_status_by_status"


def batch_config(root: Path, compression: str = "gzip") -> dict[str, t.Any]:
    return {
        "encoding": {"format": "jsonl", "compression": compression},
        "storage": {"root": root.as_uri()},
    }


def file_rows(url: str) -> list[dict[str, t.Any]]:
    path = Path(urlparse(url).path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def key(record: dict[str, t.Any]) -> str:
    return json.dumps(record, sort_keys=True)


def covered(state: dict[str, t.Any], stream: str) -> dict[str, str]:
    """scope_id -> the bookmark of that partition in `state`."""
    partitions = state["bookmarks"].get(stream, {}).get("partitions", [])
    return {
        p["context"]["scope_id"]: p["replication_key_value"]
        for p in partitions
        if "replication_key_value" in p
    }


def test_batch_files_hold_the_record_rows_and_precede_each_window_state(
    sandbox: SandboxServer, tap: Tap, tmp_path: Path
) -> None:
    config = tap_config(sandbox)
    catalog = selecting(
        json.loads(tap(config, extra_args=["--discover"]).stdout), "time_in_status", LONG
    )
    lines = tap(config, catalog=catalog)
    assert lines.returncode == 0, lines.stderr[-2000:]
    per_window = collections.Counter((r["scope_id"], r["window_end"]) for r in lines.records())
    assert max(per_window.values()) > 7  # so that a window needs several files

    batched = tap(
        {**config, "batch_config": batch_config(tmp_path / "batches"), "batch_size_rows": 7},
        catalog=catalog,
    )
    assert batched.returncode == 0, batched.stderr[-2000:]
    assert not batched.records()
    assert not batched.records(LONG)
    announced: dict[str, list[dict[str, t.Any]]] = {"time_in_status": [], LONG: []}
    states_checked = 0
    for message in batched.messages:
        if message["type"] == "BATCH":
            assert message["encoding"] == {"format": "jsonl", "compression": "gzip"}
            for url in message["manifest"]:
                rows = file_rows(url)
                assert 1 <= len(rows) <= 7
                announced[message["stream"]].extend(rows)
        elif message["type"] == "STATE":
            # Every row of every window a bookmark covers is already in an announced file.
            for stream, rows in announced.items():
                for scope_id, bookmark in covered(message["value"], stream).items():
                    done = {
                        key(r)
                        for r in rows
                        if r["scope_id"] == scope_id and r["window_end"] <= bookmark
                    }
                    expected = [
                        r
                        for r in lines.records(stream)
                        if r["scope_id"] == scope_id and r["window_end"] <= bookmark
                    ]
                    assert len(done) == len(expected)
                    states_checked += 1
    assert states_checked > 8

    def without_export_ids(rows: list[dict[str, t.Any]]) -> list[str]:
        return sorted(key({**r, "export_id": None}) for r in rows)

    for stream in ("time_in_status", LONG):
        assert without_export_ids(announced[stream]) == without_export_ids(lines.records(stream))
    assert batched.last_state == lines.last_state


def test_uncompressed_files_and_the_sdk_batch_size(
    sandbox: SandboxServer, tap: Tap, tmp_path: Path
) -> None:
    config = tap_config(sandbox, org_tree_names=[])
    batch = {**batch_config(tmp_path / "plain", "none"), "batch_size": 3}
    run = tap({**config, "batch_config": batch})
    assert run.returncode == 0, run.stderr[-2000:]
    urls = [u for m in run.messages if m["type"] == "BATCH" for u in m["manifest"]]
    assert urls
    assert all(u.endswith(".jsonl") for u in urls)
    assert max(len(file_rows(u)) for u in urls) == 3
    assert {m["stream"] for m in run.messages if m["type"] == "BATCH"} == {"time_in_status"}


def test_a_sync_stopped_mid_window_leaves_only_announced_files(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """SIGTERM while a window's files are written: its open file is dropped unannounced."""
    sandbox.set_config(org_tree_teams=60)
    root = tmp_path / "stopped"
    config = tap_config(
        sandbox,
        team_ids=[],
        granularity="daily",
        start_date="2025-01-01",
        end_date="2025-06-30",
        periods_per_window=200,
        batch_config=batch_config(root),
        batch_size_rows=50,
    )
    (tmp_path / "run").mkdir()
    command = tap_command(tmp_path / "run", config, None)
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert process.stdout is not None
    announced: set[Path] = set()
    try:
        for line in process.stdout:
            message = json.loads(line)
            if message["type"] == "BATCH":
                announced |= {Path(urlparse(u).path) for u in message["manifest"]}
                if len(announced) == 1:
                    process.send_signal(signal.SIGTERM)
    finally:
        process.wait(timeout=60)
    assert process.returncode == 143
    assert announced
    assert set(root.glob("*")) == announced


def test_bad_batch_settings_are_refused_by_name(sandbox: SandboxServer, tap: Tap) -> None:
    bad = {
        "encoding": {"format": "parquet", "compression": "zstd"},
        "storage": {"root": ""},
    }
    run = tap({**tap_config(sandbox), "batch_config": bad, "batch_size_rows": 0})
    assert run.returncode != 0
    for name in (
        "batch_config.encoding.format",
        "batch_config.storage.root",
        "batch_size_rows",
    ):
        assert name in run.stderr
    assert "Traceback" not in run.stderr
    assert not sandbox.request_log


def test_stream_maps_shape_the_batch_files_as_they_shape_records(
    sandbox: SandboxServer, tap: Tap, tmp_path: Path
) -> None:
    config = tap_config(
        sandbox,
        org_tree_names=[],
        stream_maps={"time_in_status": {"__alias__": "tis", "export_id": None}},
    )
    lines = tap(config)
    batched = tap({**config, "batch_config": batch_config(tmp_path / "mapped")})
    assert batched.returncode == 0, batched.stderr[-2000:]
    batches = [m for m in batched.messages if m["type"] == "BATCH"]
    assert {m["stream"] for m in batches} == {"tis"}
    rows = [r for m in batches for u in m["manifest"] for r in file_rows(u)]
    assert sorted(map(key, rows)) == sorted(map(key, lines.records("tis")))
    assert rows
    assert all("export_id" not in r for r in rows)
