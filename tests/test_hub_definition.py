"""The Meltano Hub plugin definition says what the tap itself says in `--about`.

Settings are added to the tap all the time; these tests take the truth from
`tap-sei-time-in-status --about --format json`, so a setting missing from (or left over in)
`hub/extractors/tap-sei-time-in-status.yml` fails here. `python scripts/hub_definition.py`
rewrites the file.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import typing as t
from functools import cache
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
MELTANO = os.environ.get("MELTANO_BIN") or str(ROOT / ".venv-meltano" / "bin" / "meltano")
DEFINITION = ROOT / "hub" / "extractors" / "tap-sei-time-in-status.yml"
BIN = Path(sys.executable).parent
# Keys of the Hub's own metadata, which a plugin definition in meltano.yml does not have.
HUB_ONLY_KEYS = {"maintenance_status", "keywords", "domain_url", "quality"}
# JSON-schema type of a setting -> the Meltano kinds that can carry it.
KINDS = {
    "string": {"string", "date_iso8601", "options", "file", "email"},
    "array": {"array"},
    "object": {"object"},
    "boolean": {"boolean"},
    "integer": {"integer"},
    "number": {"decimal", "string"},
}


@cache
def about() -> dict[str, t.Any]:
    done = subprocess.run(
        [sys.executable, "-m", "tap_sei_time_in_status", "--about", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    info: dict[str, t.Any] = json.loads(done.stdout)
    return info


@cache
def definition() -> dict[str, t.Any]:
    document: dict[str, t.Any] = yaml.safe_load(DEFINITION.read_text(encoding="utf-8"))
    return document


def json_type(prop: dict[str, t.Any]) -> str:
    types = prop["type"] if isinstance(prop["type"], list) else [prop["type"]]
    (only,) = [x for x in types if x != "null"]
    return str(only)


def assert_lists_the_settings_of_about(settings: list[dict[str, t.Any]], fix: str) -> None:
    names = [s["name"] for s in settings]
    assert len(names) == len(set(names)), "a setting is listed twice"
    expected = set(about()["settings"]["properties"])
    assert set(names) == expected, (
        f"missing: {sorted(expected - set(names))}, not in --about: "
        f"{sorted(set(names) - expected)}; {fix}"
    )


def test_lists_exactly_the_settings_of_about() -> None:
    assert_lists_the_settings_of_about(
        definition()["settings"], "run `python scripts/hub_definition.py`"
    )


def test_meltano_yml_lists_exactly_the_settings_of_about() -> None:
    """A setting meltano.yml does not declare is one `meltano config` refuses to set."""
    project = yaml.safe_load((ROOT / "meltano.yml").read_text(encoding="utf-8"))
    (tap,) = [p for p in project["plugins"]["extractors"] if p["name"] == about()["name"]]
    assert_lists_the_settings_of_about(tap["settings"], "declare them in meltano.yml")


def test_every_setting_has_kind_label_description_and_sensitive() -> None:
    properties = about()["settings"]["properties"]
    for setting in definition()["settings"]:
        prop = properties[setting["name"]]
        assert setting["label"].strip(), setting["name"]
        assert setting["description"].strip(), setting["name"]
        assert setting["sensitive"] is bool(prop.get("secret", False)), setting["name"]
        assert setting["kind"] in KINDS[json_type(prop)], setting["name"]
        if "enum" in prop:
            assert setting["kind"] == "options"
            assert [o["value"] for o in setting["options"]] == prop["enum"]
    api_key = next(s for s in definition()["settings"] if s["name"] == "api_key")
    assert api_key["sensitive"] is True


def test_plugin_metadata_matches_the_package() -> None:
    plugin = definition()
    info = about()
    assert plugin["name"] == plugin["pip_url"] == plugin["executable"] == info["name"]
    assert plugin["namespace"] == "tap_sei_time_in_status"
    assert sorted(plugin["capabilities"]) == sorted(info["capabilities"])
    assert plugin["description"] == info["description"]
    assert plugin["settings_group_validation"] == [info["settings"]["required"]]
    assert plugin["maintenance_status"] in {"active", "beta", "development"}
    assert all(isinstance(k, str) for k in plugin["keywords"])


def test_file_is_what_the_generator_writes() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "hub_definition.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_validates_against_meltanos_plugin_schema(tmp_path: Path) -> None:
    """The definition, less the Hub's own metadata, is a valid meltano.yml plugin."""
    plugin = {k: v for k, v in definition().items() if k not in HUB_ONLY_KEYS}
    project = tmp_path / "meltano.yml"
    project.write_text(yaml.safe_dump({"plugins": {"extractors": [plugin]}}), encoding="utf-8")
    done = subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.meltano", str(project)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # ... and the schema does check settings: a kind Meltano does not know is refused.
    plugin["settings"] = [{**plugin["settings"][0], "kind": "number"}]
    project.write_text(yaml.safe_dump({"plugins": {"extractors": [plugin]}}), encoding="utf-8")
    done = subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.meltano", str(project)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1


@pytest.mark.slow
def test_meltano_adds_the_plugin_from_the_definition(tmp_path: Path) -> None:
    """`meltano add --from-ref` (the README's route until the Hub lists the tap) takes it."""
    if not Path(MELTANO).exists():
        pytest.fail(f"Meltano is not installed at {MELTANO}: run `make setup` first")
    (tmp_path / "meltano.yml").write_text(
        "project_id: hub-definition-test\ndefault_environment: dev\n"
        "environments:\n- name: dev\nsend_anonymous_usage_stats: false\n",
        encoding="utf-8",
    )
    # The definition alone: no setting of the tap from this process's environment.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TAP_SEI_", "MELTANO_"))}
    env["MELTANO_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    add = [MELTANO, "add", "--plugin-type", "extractor", "--from-ref", str(DEFINITION)]
    add += ["--no-install", "tap-sei-time-in-status"]
    done = subprocess.run(
        add, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    listed = subprocess.run(
        [MELTANO, "config", "list", "tap-sei-time-in-status", "--all"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert listed.returncode == 0, listed.stderr[-3000:]
    names = set(re.findall(r"^(\S+) \[env: TAP_SEI_TIME_IN_STATUS_", listed.stdout, re.MULTILINE))
    assert names == set(about()["settings"]["properties"])
