"""Details an operator trips on, tried as a new user would (issue 21).

A misspelt setting, a state file of another shape, an error said twice, a sandbox on another
port, a DuckDB folder that is not there, `sei-sandbox --help` without its defaults.
"""

from __future__ import annotations

import io
import logging
import os
import re
import subprocess
import typing as t
from pathlib import Path

import pytest
import yaml

from tap_sei_time_in_status.errors import HandledErrorFilter, SeiTapError
from tap_sei_time_in_status.output.state import StateError, check_state_shape
from tap_sei_time_in_status.sandbox import SandboxServer
from tap_sei_time_in_status.sandbox.cli import build_parser
from tests.conftest import tap_config
from tests.readme_examples import commands as readme_commands
from tests.tap_runner import TapRun

Tap = t.Callable[..., TapRun]
ROOT = Path(__file__).resolve().parent.parent
MELTANO = os.environ.get("MELTANO_BIN") or str(ROOT / ".venv-meltano" / "bin" / "meltano")
NEVER_SHOWN = "value-never-shown-4d2a"


def error_lines(run: TapRun) -> list[str]:
    return [line for line in run.stderr.splitlines() if "ERROR" in line]


# --- unknown settings --------------------------------------------------------------------------


def test_a_misspelt_setting_is_named_with_the_closest_one_and_its_value_never_shown(
    sandbox: SandboxServer, tap: Tap
) -> None:
    config = tap_config(sandbox, org_tree_names=[], end_date="2025-02-01")
    run = tap({**config, "granulrity": NEVER_SHOWN})
    assert run.returncode == 0, run.stderr[-2000:]
    (warning,) = [line for line in run.stderr.splitlines() if "Unknown setting" in line]
    assert "'granulrity'" in warning
    assert "did you mean 'granularity'?" in warning
    assert NEVER_SHOWN not in run.stderr + run.stdout
    assert {r["granularity"] for r in run.records()} == {"weekly"}  # the default, as warned


def test_unknown_environment_variables_are_named_and_known_names_are_not(tap: Tap) -> None:
    config = {
        "issue_statuses": ["QA"],
        "flattening_enabled": False,  # singer-sdk's own settings are known too
        "stream_maps": {},
        "batch_config": None,
        "max_poll_interval_second": 3,
    }
    env = {
        "TAP_SEI_TIME_IN_STATUS_ISSUE_STATUSSES": NEVER_SHOWN,  # as Meltano passes a typo
        "TAP_SEI_TIME_IN_STATUS_GRANULARITY": "weekly",
        "TAP_SEI_TIME_IN_STATUS__SELECT": '["time_in_status.*"]',  # Meltano's own
        "TAP_SEI_TIME_IN_STATUS_LOGLEVEL": "INFO",  # singer-sdk's log level
        # The same typo in the config and in the environment (Meltano passes both): once.
        "TAP_SEI_TIME_IN_STATUS_MAX_POLL_INTERVAL_SECOND": "3",
    }
    run = tap(config, extra_args=["--discover"], env=env)
    assert run.returncode == 0, run.stderr[-2000:]
    warnings = [line for line in run.stderr.splitlines() if "Unknown setting" in line]
    assert len(warnings) == 2, warnings
    assert "TAP_SEI_TIME_IN_STATUS_ISSUE_STATUSSES" in warnings[0] + warnings[1]
    assert "did you mean TAP_SEI_TIME_IN_STATUS_ISSUE_STATUSES?" in warnings[0] + warnings[1]
    assert "did you mean 'max_poll_interval_seconds'?" in warnings[0] + warnings[1]
    assert NEVER_SHOWN not in run.stderr + run.stdout


# --- a state of another shape ------------------------------------------------------------------

THIS_TAPS = {"partitions": [{"context": {"scope_type": "team", "scope_id": "team_abc123"}}]}


WRONG_SHAPES = [
    pytest.param(
        {"type": "STATE", "value": {"bookmarks": {"time_in_status": THIS_TAPS}}},
        "is a Singer STATE message (a line of the tap's output), not a state: save its "
        '"value" as the state',
        id="a STATE line",
    ),
    pytest.param({"foo": 1}, "holds 'foo', which this tap never writes", id="foo"),
    pytest.param(
        {"bookmarks": {"issues": THIS_TAPS}},
        "holds bookmarks of the stream(s) 'issues', not of 'time_in_status'",
        id="another stream",
    ),
    pytest.param(
        {"bookmarks": {"time_in_status": THIS_TAPS}, "currently_syncing": None},
        "holds 'currently_syncing'",
        id="another tap's keys",
    ),
    pytest.param(
        {"singer_state": {"bookmarks": {}}},
        'is a state as Meltano stores it: give the tap its "singer_state"',
        id="Meltano's wrapping",
    ),
    pytest.param({"bookmarks": []}, 'holds "bookmarks" as a JSON array', id="bookmarks list"),
    pytest.param(
        {"bookmarks": {"time_in_status": {"partitions": {}}}},
        '"partitions" as a JSON object, not a list',
        id="partitions object",
    ),
    pytest.param(
        {"bookmarks": {"time_in_status": {"partitions": [{"context": {"repo": "x"}}]}}},
        "whose context is not 'scope_type', 'scope_id'",
        id="another context",
    ),
    pytest.param([], "is a JSON array, not an object", id="a list"),
    pytest.param([{"bookmarks": {}}], "is a JSON array, not an object", id="a list of one"),
]
#: The shapes of the issue, and one that is no object, run through the tap.
# A list through the tap is refused by the file check, naming the file: test_trust_data.
THROUGH_THE_TAP = ("a STATE line", "foo", "another stream")


@pytest.mark.parametrize(("state", "said"), WRONG_SHAPES)
def test_a_state_of_another_shape_is_refused_saying_what_was_expected(
    state: t.Any, said: str
) -> None:
    with pytest.raises(StateError) as refused:
        check_state_shape(state)
    message = str(refused.value)
    assert "\n" not in message
    assert said in message
    assert '{"bookmarks": {"time_in_status": {"partitions": [{"context": {"scope_type"' in message


@pytest.mark.parametrize(("state", "said"), [p for p in WRONG_SHAPES if p.id in THROUGH_THE_TAP])
def test_the_tap_refuses_a_state_of_another_shape_in_one_line(
    sandbox: SandboxServer, tap: Tap, state: t.Any, said: str
) -> None:
    run = tap(tap_config(sandbox), state)
    assert run.returncode == 1, run.stderr[-2000:]
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    (line,) = error_lines(run)
    assert said in line
    assert '{"bookmarks": {"time_in_status": {"partitions": [{"context": {"scope_type"' in line
    assert not run.records()
    assert not sandbox.request_log, "refused before any request"


@pytest.mark.parametrize(
    "state",
    [
        {},
        {"bookmarks": {}},
        {"bookmarks": {"time_in_status": {}}},
        {"bookmarks": {"time_in_status": THIS_TAPS, "time_in_status_by_status": THIS_TAPS}},
    ],
)
def test_an_empty_state_and_this_taps_shape_pass(state: t.Any) -> None:
    check_state_shape(state)


def test_an_empty_state_is_a_first_run(sandbox: SandboxServer, tap: Tap) -> None:
    run = tap(tap_config(sandbox, org_tree_names=[], end_date="2025-02-01"), {})
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.records()


# --- an error is said once ---------------------------------------------------------------------


def test_a_handled_sync_error_is_said_once(sandbox: SandboxServer, tap: Tap) -> None:
    run = tap(tap_config(sandbox, team_ids=["team_nope"], org_tree_names=[]))
    assert run.returncode == 1
    (line,) = error_lines(run)
    assert "The SEI API refused team 'team_nope'" in line
    assert "An unhandled error occurred" not in run.stderr


def fail_with(error: Exception) -> None:
    raise error


def test_a_bug_keeps_singer_sdks_line() -> None:
    """Only the tap's own errors lose the line; anything else is reported as singer-sdk does."""
    logger = logging.getLogger("tap-sei-time-in-status.test_a_bug_keeps_singer_sdks_line")
    logger.propagate = False
    out = io.StringIO()
    logger.addHandler(logging.StreamHandler(out))
    logger.addFilter(HandledErrorFilter())
    line = "An unhandled error occurred while syncing '%s'"
    for error in (SeiTapError("told the user"), KeyError("a bug")):
        try:
            fail_with(error)
        except Exception:
            logger.log(logging.ERROR, line, "time_in_status")  # as singer-sdk's Stream.sync
    logger.log(logging.ERROR, line, "outside of an except block")
    assert out.getvalue().splitlines() == [
        "An unhandled error occurred while syncing 'time_in_status'",
        "An unhandled error occurred while syncing 'outside of an except block'",
    ]


# --- the sandbox's help ------------------------------------------------------------------------


def test_sandbox_help_shows_every_default() -> None:
    parser = build_parser()
    shown = " ".join(parser.format_help().split())
    defaults = {
        a.option_strings[0]: a.default
        for a in parser._actions  # every option, groups included
        if a.option_strings and a.default not in (None, False, "", [], "==SUPPRESS==")
    }
    assert {"--port", "--api-key", "--base-path", "--export-seconds"} <= set(defaults)
    for option, default in defaults.items():
        assert f"(default: {default})" in shown, option
    assert "(default: None)" not in shown
    assert "(default: False)" not in shown


# --- Meltano ------------------------------------------------------------------------------------


def duckdb_paths() -> list[str]:
    """target-duckdb's `filepath` in meltano.yml: the plugin's and every environment's."""
    project = yaml.safe_load((ROOT / "meltano.yml").read_text(encoding="utf-8"))
    paths = [
        p["config"]["filepath"]
        for p in project["plugins"]["loaders"]
        if p["name"] == "target-duckdb"
    ]
    for environment in project["environments"]:
        for loader in environment.get("config", {}).get("plugins", {}).get("loaders", []):
            if loader["name"] == "target-duckdb" and "filepath" in loader.get("config", {}):
                paths.append(loader["config"]["filepath"])
    return paths


def test_the_duckdb_folder_of_meltano_yml_is_in_every_clone() -> None:
    """target-duckdb does not create its folder: the repository ships it."""
    assert duckdb_paths()
    for path in duckdb_paths():
        folder = Path(path.replace("$MELTANO_PROJECT_ROOT", str(ROOT))).parent
        tracked = subprocess.run(
            ["git", "ls-files", "--", str(folder)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        assert tracked, f"{folder} is not in git: a fresh clone has no such folder"
    dry_run = subprocess.run(
        ["make", "-n", "clean"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert not re.search(r"rm -rf [^\n]*\boutput\b", dry_run), "make clean removes output/"


@pytest.mark.slow
def test_the_dev_sandbox_port_follows_the_environment_variable(tmp_path: Path) -> None:
    """The README's way to another sandbox port, checked with `meltano config list`.

    It also shows the point of `--environment=dev`: `meltano config` ignores the default one.
    """
    if not Path(MELTANO).exists():
        pytest.fail(f"Meltano is not installed at {MELTANO}: run `make setup` first")
    sandbox, export, config_list, _ = readme_commands("sandbox-port")
    variable, url = export[1].split("=", 1)
    assert variable == "TAP_SEI_TIME_IN_STATUS_BASE_URL"
    assert url == f"http://127.0.0.1:{sandbox[sandbox.index('--port') + 1]}/sei/api"
    assert readme_commands("config-list-dev") == [config_list]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAP_SEI_TIME_IN_STATUS_")}
    env["MELTANO_DATABASE_URI"] = f"sqlite:///{tmp_path / 'meltano.db'}"
    env["MELTANO_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    done = subprocess.run(
        [MELTANO, *config_list[1:]],
        cwd=ROOT,
        env={**env, variable: url},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    settings = {line.split(" ", 1)[0]: line for line in done.stdout.splitlines()}
    assert (
        f"current value: '{url}' (from the {variable} variable in the environment)"
        in (settings["base_url"])
    )
    assert "(from the active environment in `meltano.yml`)" in settings["start_date"]


# --- markers -----------------------------------------------------------------------------------


def test_every_declared_marker_is_used() -> None:
    """A marker declared in pyproject.toml marks some test (`make test-quick` leaves out `slow`)."""
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    block = pyproject.split("\nmarkers = [", 1)[1].split("]", 1)[0]
    declared = re.findall(r'^\s*"(\w+):', block, re.MULTILINE)
    used = set()
    for test_file in (ROOT / "tests").glob("*.py"):
        used |= set(re.findall(r"pytest\.mark\.(\w+)", test_file.read_text(encoding="utf-8")))
    assert "slow" in declared
    assert set(declared) <= used, f"declared and never used: {set(declared) - used}"
