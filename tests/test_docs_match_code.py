"""What the README, `.env.example` and `meltano.yml` state about the tap is what the code does.

Each figure or list here was once stale (issue 21): the README's poll counts, the example
`POLL_INTERVAL_SECONDS=2` of a 1 s default, a settings row that differed from `--about`, a
capabilities list without `structured-logging`. These tests read the documents and derive the
truth from the code, so that a change to either fails until the other follows.
"""

from __future__ import annotations

import fnmatch
import re
from functools import cache
from pathlib import Path

import pytest
import yaml
from singer_sdk.about import AboutFormatter
from singer_sdk.configuration._dict_config import parse_environment_config
from singer_sdk.helpers.capabilities import FLATTENING_CONFIG, STREAM_MAPS_CONFIG

from tap_sei_time_in_status.export.job import ExportPolicy
from tap_sei_time_in_status.export.poll_schedule import PollSchedule
from tap_sei_time_in_status.settings import Settings, parse_settings
from tap_sei_time_in_status.settings_schema import config_jsonschema
from tap_sei_time_in_status.tap import TapSeiTimeInStatus
from tests.readme_examples import example as readme_example

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
ENV_PREFIX = "TAP_SEI_TIME_IN_STATUS_"
#: The settings a user must give: no line of `.env.example` can show their default.
REQUIRED = {"api_key", "org_identifier", "project_identifier", "start_date"}
SCOPES = {"team_ids", "org_tree_names"}  # at least one entry in all
MINIMAL = {
    "api_key": "k",
    "org_identifier": "o",
    "project_identifier": "p",
    "team_ids": ["t"],
    "start_date": "2025-01-01",
}


def defaults() -> Settings:
    return parse_settings(MINIMAL)


# --- the settings table -----------------------------------------------------------------------


@cache
def about_markdown() -> str:
    """What `tap-sei-time-in-status --about --format=markdown` prints (the same calls)."""
    info = TapSeiTimeInStatus._get_about_info()  # what `--about` formats
    return AboutFormatter.get_formatter("markdown").format_about(info)


def table_rows(text: str) -> list[str]:
    """The body rows of the first settings table in `text`."""
    lines = text[text.index("| Setting | Required | Default | Description |") :].splitlines()
    rows = []
    for line in lines[2:]:
        if not line.startswith("|"):
            break
        rows.append(line)
    return rows


def builtin_settings() -> list[str]:
    """singer-sdk's own settings, which the README leaves to `--about`."""
    return [*STREAM_MAPS_CONFIG["properties"], *FLATTENING_CONFIG["properties"]]


def test_readme_settings_table_is_what_about_prints() -> None:
    readme = README[README.index("<!-- From `tap-sei-time-in-status --about --format=markdown`") :]
    builtin = set(builtin_settings())
    expected = [
        row
        for row in table_rows(about_markdown())
        if "." not in (name := row.split("|")[1].strip()) and name not in builtin
    ]
    assert table_rows(readme) == expected
    assert any(row.startswith("| batch_config |") for row in expected)


def test_readme_names_the_builtin_settings_it_leaves_out() -> None:
    paragraph = README[README.index("The SDK's built-in settings") :].split("\n\n", 1)[0]
    sentence = " ".join(paragraph.split()).split(" work as usual")[0]
    named = re.findall(r"`([a-z_*]+)`", sentence)
    for setting in builtin_settings():
        assert any(fnmatch.fnmatch(setting, pattern) for pattern in named), setting
    own = set(config_jsonschema()["properties"])
    assert not [p for p in named if any(fnmatch.fnmatch(s, p) for s in own)]


# --- capabilities -----------------------------------------------------------------------------


def tap_capabilities() -> set[str]:
    return {c.value for c in TapSeiTimeInStatus.capabilities}


def test_meltano_yml_and_readme_declare_the_taps_capabilities() -> None:
    meltano = yaml.safe_load((ROOT / "meltano.yml").read_text(encoding="utf-8"))
    ours = meltano["plugins"]["extractors"][0]
    assert set(ours["capabilities"]) == tap_capabilities()
    (definition,) = yaml.safe_load(readme_example("plugin-definition"))
    assert definition["capabilities"] == ours["capabilities"]
    (row,) = [line for line in README.splitlines() if line.startswith("| `tap-sei-time-in-status`")]
    listed = row.split("capabilities: ", 1)[1].split(";", 1)[0].split(", ")
    assert listed == ours["capabilities"]


# --- poll figures -----------------------------------------------------------------------------


def polls(schedule: PollSchedule, seconds: float) -> list[float]:
    return list(schedule.poll_ages(seconds))


def figures(pattern: str, text: str = README) -> list[float]:
    found = [float(x) for x in re.findall(pattern, text)]
    assert found, f"the text no longer says {pattern!r}: update this test with it"
    return found


def test_readme_poll_figures_follow_the_schedule_and_the_defaults() -> None:
    default = ExportPolicy.from_settings(defaults()).poll_schedule
    half_hour = len(polls(default, 30 * 60))
    at_2_s = len(polls(PollSchedule(2, default.longest_wait), 30 * 60))
    lifecycle = README[README.index("**Poll schedule.**") :]
    assert figures(r"a 30-minute one costs (\d+) polls", lifecycle) == [half_hour]
    assert figures(r"; (\d+) with 2 s\)", lifecycle) == [at_2_s]
    assert figures(r"30-minute export costs at most 60 polls\s+\((\d+) with the defaults\)") == [
        half_hour
    ]
    assert figures(r"a 30-minute export still costs (\d+) of them") == [half_hour]
    module = (ROOT / "tap_sei_time_in_status" / "export" / "poll_schedule.py").read_text()
    assert figures(r"a 30-minute export costs (\d+) polls", module) == [half_hour]
    # Jobs the default budget (600 a minute, 95 % of it for polls) keeps polling at that length.
    assert figures(r"30-minute exports \((\d+) polls each\)") == [half_hour]
    jobs = round(0.95 * 600 / 60 / (half_hour / 1800), -1)
    assert figures(r"would allow about (\d+) jobs at once") == [jobs]
    assert README.count("30-minute") == 4, "a new mention of a 30-minute export: check it here"
    # "with the defaults (1 s, 60 s) polls come at 1, 2, 3, 4, 5, 6.25, 7.8, 9.8, ... s"
    listed = re.search(r"polls come at ((?:[\d.]+, )+)\.\.\. s", " ".join(lifecycle.split()))
    assert listed is not None
    said = [float(x) for x in listed[1].rstrip(", ").split(", ")]
    actual = polls(default, 60)[: len(said)]
    assert all(abs(x - a) < 0.05 for x, a in zip(said, actual, strict=True)), (said, actual)


# --- .env.example -----------------------------------------------------------------------------


def env_example_lines() -> list[tuple[str, str, str]]:
    """(variable, value, the comment above it) of each tap setting in `.env.example`'s section."""
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    section = text.split("# --- tap-sei-time-in-status ", 1)[1].split("\n# --- ", 1)[0]
    found = []
    comment = ""
    for line in section.splitlines():
        match = re.fullmatch(rf"# ({ENV_PREFIX}[A-Z0-9_]+)=(.*)", line)
        if match:
            found.append((match[1], match[2], comment))
            comment = ""  # a comment is about the line right below it
        elif line.startswith("# "):
            comment = line
    return found


def test_env_example_names_every_setting_of_the_tap() -> None:
    named = {v.removeprefix(ENV_PREFIX).lower() for v, _, _ in env_example_lines()}
    meltano_extras = {n for n in named if n.startswith("_")}  # e.g. `__SELECT`
    assert named - meltano_extras == set(config_jsonschema()["properties"])


def test_env_example_shows_the_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each line shows the setting's default, unless its comment says what unset does."""
    schema = config_jsonschema()
    no_dotenv = tmp_path / ".env"
    no_dotenv.write_text("")
    checked = []
    for variable, value, comment in env_example_lines():
        name = variable.removeprefix(ENV_PREFIX).lower()
        if name.startswith("_") or name in REQUIRED | SCOPES or comment.startswith("# Unset:"):
            continue
        monkeypatch.setenv(variable, value)
        config = parse_environment_config(schema, ENV_PREFIX, dotenv_path=no_dotenv)
        monkeypatch.delenv(variable)
        assert parse_settings({**MINIMAL, **config}) == defaults(), f"{variable}={value}"
        checked.append(name)
    assert "poll_interval_seconds" in checked
    assert len(checked) > 20


def test_env_example_lines_of_unset_settings_name_settings_without_a_default() -> None:
    properties = config_jsonschema()["properties"]
    for variable, _, comment in env_example_lines():
        if comment.startswith("# Unset:"):
            name = variable.removeprefix(ENV_PREFIX).lower()
            assert properties[name].get("default") is None, variable
