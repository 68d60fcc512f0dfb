"""Bounded in time and space: drip-fed answers, retry budgets, window budgets, size limits
and a failing local disk, met by the real tap over HTTP against the sandbox."""

from __future__ import annotations

import itertools
import resource
import subprocess
import typing as t
from pathlib import Path

import pytest

from tap_sei_time_in_status.sandbox import ALWAYS, Fault, SandboxServer
from tests.tap_runner import TapRun, parse_messages, tap_command
from tests.test_faults import assert_same_rows_as_served, small_config

Tap = t.Callable[..., TapRun]


def assert_one_line_failure(run: TapRun, *needles: str) -> str:
    """The run failed with one actionable line that holds every needle."""
    assert run.returncode == 1, run.stderr[-3000:]
    assert "Traceback" not in run.stderr
    last = run.stderr.strip().splitlines()[-1]
    for needle in needles:
        assert needle in last, last
    return last


# --- deadlines -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        (Fault("create", "drip_headers", delay=0.1), "did not complete within"),
        (Fault("poll", "drip_body", delay=0.1), "did not complete within"),
        (Fault("download", "drip_headers", delay=0.1), "got no answer headers within"),
        (Fault("download", "drip_body", delay=0.1), "stalled"),
    ],
    ids=lambda f: f"{f.endpoint}-{f.kind}" if isinstance(f, Fault) else "",
)
def test_a_drip_fed_answer_is_cut_at_its_deadline_and_tried_again(
    sandbox: SandboxServer, tap: Tap, fault: Fault, message: str
) -> None:
    # Each byte comes well within the socket timeout: only an overall deadline catches it.
    sandbox.set_faults([fault])
    config = small_config(sandbox, request_timeout_seconds=1, max_concurrent_exports=1)
    run = tap(config, timeout=60)
    assert_same_rows_as_served(run, sandbox, config)
    assert [count for _, count in sandbox.fault_plan.fired()] == [1]
    assert message in run.stderr
    assert "request_timeout_seconds (1 s)" in run.stderr


def test_a_download_that_keeps_stalling_gives_up_saying_tries_and_time(
    sandbox: SandboxServer, tap: Tap
) -> None:
    sandbox.set_faults([Fault("download", "drip_body", delay=0.05, times=ALWAYS)])
    config = small_config(
        sandbox, request_timeout_seconds=0.5, max_request_retry_seconds=2, max_concurrent_exports=1
    )
    run = tap(config, timeout=60)
    last = assert_one_line_failure(
        run, "window 2025-03-", "stalled", "min_download_bytes_per_second", "gave up after"
    )
    assert "max_request_retry_seconds (2 s)" in last
    assert not run.records()


@pytest.mark.parametrize("retry_after", ["nan", "-5", "inf", "-inf", "soon"])
def test_a_retry_after_that_is_not_a_finite_delay_counts_as_absent(
    sandbox: SandboxServer, tap: Tap, retry_after: str
) -> None:
    sandbox.set_faults([Fault("create", "429", retry_after=retry_after, times=2)])
    config = small_config(sandbox, max_concurrent_exports=1)
    run = tap(config)
    assert_same_rows_as_served(run, sandbox, config)
    waits = [line for line in run.stderr.splitlines() if "answered HTTP 429" in line]
    assert len(waits) == 2
    # The jittered backoff (0.5 s, then 0.5-1 s), not an immediate retry nor a minute.
    assert "retry 1 of 7 in 0.5 s" in waits[0]
    assert all(" in 0.0 s" not in w and " in 60.0 s" not in w for w in waits)


@pytest.mark.parametrize("retry_after", ["0", "Wed, 21 Oct 2015 07:28:00 GMT"])
def test_a_retry_after_of_now_or_the_past_still_waits_the_taps_own_backoff(
    sandbox: SandboxServer, tap: Tap, retry_after: str
) -> None:
    sandbox.set_faults([Fault("poll", "429", retry_after=retry_after, times=2)])
    config = small_config(sandbox, max_concurrent_exports=1)
    run = tap(config)
    assert_same_rows_as_served(run, sandbox, config)
    polls = [r.at for r in sandbox.requests_of("poll")]
    # The two refused polls and the one after them: each retry waited the first step (0.5 s)
    # or more, never at once as the server asked.
    gaps = [later - earlier for earlier, later in itertools.pairwise(polls[:3])]
    assert len(gaps) == 2
    assert min(gaps) >= 0.5, gaps


def test_a_huge_retry_after_past_the_budget_gives_up_at_once(
    sandbox: SandboxServer, tap: Tap
) -> None:
    sandbox.set_faults([Fault("create", "429", retry_after="86400", times=ALWAYS)])
    run = tap(small_config(sandbox, max_request_retry_seconds=5, max_concurrent_exports=1))
    last = assert_one_line_failure(run, "window 2025-03-", "HTTP 429", "gave up after 1 try over")
    assert "max_request_retry_seconds (5 s)" in last
    assert len(sandbox.requests_of("create")) == 1


def test_a_window_stuck_at_every_level_of_halving_stops_at_its_budget(
    sandbox: SandboxServer, tap: Tap
) -> None:
    # Every export stays PROCESSING: without a budget the window would be halved down to
    # single weeks, each tried max_export_attempts times.
    sandbox.set_config(stuck_exports=1000, duplicate_window_seconds=0.01)
    config = small_config(
        sandbox,
        export_timeout_seconds=0.4,
        max_export_attempts=2,
        window_timeout_seconds=2,
        max_concurrent_exports=1,
    )
    run = tap(config, timeout=60)
    last = assert_one_line_failure(
        run, "team 'team_abc123' window 2025-03-", "window_timeout_seconds (2 s)"
    )
    assert "attempts and halvings together" in last
    assert "exporting it again as 2025-03-03..2025-03-16 and 2025-03-17..2025-03-30" in run.stderr
    assert not run.records()


# --- size limits -----------------------------------------------------------------------------


LimitCase = tuple["Fault | None", dict[str, t.Any], str]


@pytest.mark.parametrize(
    "case",
    [
        (None, {"max_download_bytes": 100}, "larger than max_download_bytes (100 bytes)"),
        (
            None,
            {"max_decompressed_bytes": 200},
            "decompresses to more than max_decompressed_bytes (200 bytes)",
        ),
        (
            Fault("download", "gzip_bomb", size=16 << 20),
            {},
            "more than max_decompression_ratio (200)",
        ),
    ],
    ids=["download", "decompressed", "gzip-bomb"],
)
def test_a_download_past_a_size_limit_stops_the_window_naming_the_setting(
    sandbox: SandboxServer, tap: Tap, tmp_path: Path, case: LimitCase
) -> None:
    fault, settings, message = case
    sandbox.set_faults([fault] if fault else [])
    config = small_config(sandbox, max_concurrent_exports=1, **settings)
    temp = tmp_path / "temp"
    temp.mkdir()
    run = tap(config, env={"TMPDIR": str(temp)})
    last = assert_one_line_failure(run, "team 'team_abc123' window 2025-03-03..2025-03-30", message)
    assert "Nothing of this window was emitted" in last
    assert not run.records()
    assert len(sandbox.requests_of("download")) == 1, "a limit is not retried"
    assert not [p for p in temp.rglob("*") if p.is_file() and p.name != ".lock"]


def test_an_oversized_json_answer_is_refused_before_it_is_parsed(
    sandbox: SandboxServer, tap: Tap
) -> None:
    sandbox.set_faults([Fault("poll", "huge_json", size=200_000)])
    run = tap(small_config(sandbox, max_json_answer_bytes=65536))
    assert_one_line_failure(
        run, "team 'team_abc123' window 2025-", "max_json_answer_bytes (65,536 bytes)"
    )
    assert not run.records()


# --- the local disk --------------------------------------------------------------------------


def run_with_file_size_limit(
    config: dict[str, t.Any], workdir: Path, temp: Path, max_file_bytes: int
) -> TapRun:
    """The tap as a process none of whose files may grow past `max_file_bytes` (EFBIG)."""

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_file_bytes, max_file_bytes))

    done = subprocess.run(
        tap_command(workdir, config, None),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"TMPDIR": str(temp), "PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1"},
        preexec_fn=small_files,
    )
    return TapRun(parse_messages(done.stdout), done.stderr, done.returncode)


@pytest.mark.parametrize("kind", ["gzip_bomb", "plain_huge_line"])
def test_an_overlong_line_stops_the_download_before_it_reaches_the_disk(
    sandbox: SandboxServer, tmp_path: Path, kind: str
) -> None:
    # A 32 MiB line (gzip inflating to it, or plain), a 64 KiB line limit, and no file may
    # pass 8 MiB: only a limit applied as the bytes come in or inflate ends on the line.
    sandbox.set_faults([Fault("download", t.cast("t.Any", kind), size=32 << 20)])
    config = small_config(
        sandbox, max_concurrent_exports=1, max_csv_line_bytes=65536, max_decompression_ratio=1e9
    )
    run = run_with_file_size_limit(config, tmp_path, tmp_path, 8 << 20)
    last = assert_one_line_failure(
        run, "line 2: longer than 65,536 bytes (max_csv_line_bytes)", "Nothing of this window"
    )
    assert "team 'team_abc123' window 2025-03-03..2025-03-30" in last
    assert "Local disk error" not in run.stderr
    assert len(sandbox.requests_of("download")) == 1, "not downloaded again"


def test_a_local_disk_error_names_the_directory_and_is_not_retried(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """A file size limit (as a full disk would) makes the tap's writes fail with EFBIG."""
    config = small_config(sandbox, max_concurrent_exports=1)
    temp = tmp_path / "temp"
    temp.mkdir()
    run = run_with_file_size_limit(config, tmp_path, temp, 200)
    last = assert_one_line_failure(run, "Local disk error", "EFBIG", str(temp), "TMPDIR")
    assert "corrupt" not in run.stderr
    assert "team 'team_abc123' window 2025-03-03..2025-03-30" in last
    assert len(sandbox.requests_of("download")) == 1, "a local error is not downloaded again"


@pytest.mark.parametrize(
    ("make", "what"), [(None, "does not exist"), ("file", "is not a directory")]
)
def test_a_tmpdir_that_is_not_a_directory_stops_the_sync_naming_it(
    sandbox: SandboxServer, tap: Tap, tmp_path: Path, make: str | None, what: str
) -> None:
    # Python's tempfile would quietly use another directory instead.
    tmpdir = tmp_path / "scratch"
    if make == "file":
        tmpdir.write_text("")
    run = tap(small_config(sandbox), env={"TMPDIR": str(tmpdir)})
    assert_one_line_failure(run, f"TMPDIR ({tmpdir}) {what}")
    assert not sandbox.exports_created(), "refused before any export"
