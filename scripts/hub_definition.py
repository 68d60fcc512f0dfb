"""Write the Meltano Hub plugin definition from what the tap says about itself.

    .venv/bin/python scripts/hub_definition.py           # rewrite hub/extractors/...yml
    .venv/bin/python scripts/hub_definition.py --check   # exit 1 if it is out of date

Every setting, capability and the description come from `tap-sei-time-in-status --about
--format json`, so a setting added to the tap reaches the Hub definition with one command,
and `tests/test_hub_definition.py` fails until it has.
"""

from __future__ import annotations

import argparse
import difflib
import json
import subprocess
import sys
import typing as t
from pathlib import Path

import yaml

from tap_sei_time_in_status.settings import NUMBER_SETTINGS

ROOT = Path(__file__).resolve().parent.parent
DEFINITION = ROOT / "hub" / "extractors" / "tap-sei-time-in-status.yml"
PACKAGE = "tap-sei-time-in-status"
# The Hub names a variant after who maintains it (usually the GitHub owner of the repository);
# change it here, and add `repo:` and `docs:`, when the repository is published.
VARIANT = "community"
HEADER = (
    "# Meltano Hub plugin definition of tap-sei-time-in-status (in the Hub's repository:\n"
    f"# _data/meltano/extractors/tap-sei-time-in-status/{VARIANT}.yml).\n"
    "# Generated from `tap-sei-time-in-status --about --format json` by\n"
    "# `python scripts/hub_definition.py`: edit the tap's settings, not this file.\n"
)


def about() -> dict[str, t.Any]:
    """The tap's own `--about --format json` document."""
    done = subprocess.run(
        [sys.executable, "-m", "tap_sei_time_in_status", "--about", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    document: dict[str, t.Any] = json.loads(done.stdout)
    return document


def setting_kind(name: str, prop: dict[str, t.Any]) -> str:
    """Meltano's `kind` for a JSON-schema property.

    Fractional numbers the tap also reads from text are `string`: Meltano 4.4 cannot serialise
    the Decimal it makes of a `kind: decimal` environment variable (see meltano.yml).
    """
    types = prop.get("type", [])
    types = [types] if isinstance(types, str) else types
    if "enum" in prop:
        return "options"
    for json_type, kind in (
        ("array", "array"),
        ("object", "object"),
        ("boolean", "boolean"),
        ("integer", "integer"),
    ):
        if json_type in types:
            return kind
    if "number" in types:
        return "string" if name in NUMBER_SETTINGS else "decimal"
    if name.endswith("_date") or prop.get("format") == "date":
        return "date_iso8601"
    return "string"


def option_label(value: str) -> str:
    """`issue_resolved_at` -> `Issue resolved at`, as the Hub shows options."""
    return value.replace("_", " ").replace("-", " ").capitalize()


def setting(name: str, prop: dict[str, t.Any]) -> dict[str, t.Any]:
    """One Hub setting: name, label, kind, description, sensitive (and options)."""
    kind = setting_kind(name, prop)
    description = str(prop.get("description") or prop.get("title") or name).strip()
    default = prop.get("default")
    if isinstance(default, str) and default:
        description += f" Default: `{default}`."
    elif default not in (None, [], {}, ""):
        description += f" Default: {json.dumps(default, ensure_ascii=False)}."
    if kind == "string" and "number" in prop.get("type", []):
        description += " A number; text such as `2.5` is read as one."
    entry: dict[str, t.Any] = {
        "name": name,
        "label": str(prop.get("title") or name),
        "kind": kind,
        "description": description,
        "sensitive": bool(prop.get("secret", False)),
    }
    if kind == "options":
        entry["options"] = [{"label": option_label(v), "value": v} for v in prop["enum"]]
    return entry


def definition(info: dict[str, t.Any]) -> dict[str, t.Any]:
    """The whole plugin definition, in the Hub's layout."""
    properties: dict[str, dict[str, t.Any]] = info["settings"]["properties"]
    return {
        "name": PACKAGE,
        "variant": VARIANT,
        "namespace": "tap_sei_time_in_status",
        "label": "Harness SEI Time in Status",
        "description": info["description"],
        "maintenance_status": "active",
        "keywords": ["api", "meltano_sdk", "harness", "sei"],
        "pip_url": PACKAGE,
        "executable": PACKAGE,
        "capabilities": sorted(info["capabilities"]),
        "settings_group_validation": [list(info["settings"].get("required", []))],
        "settings": [setting(name, prop) for name, prop in properties.items()],
    }


def render(info: dict[str, t.Any]) -> str:
    """The file's text: a header saying where it comes from, then the YAML."""
    body = yaml.safe_dump(definition(info), sort_keys=False, allow_unicode=True, width=100)
    return HEADER + body


def main() -> int:
    """Write the file, or with --check show how it differs from --about and exit 1."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is out of date")
    args = parser.parse_args()
    text = render(about())
    current = DEFINITION.read_text(encoding="utf-8") if DEFINITION.exists() else ""
    if args.check:
        if current == text:
            return 0
        diff = difflib.unified_diff(
            current.splitlines(keepends=True),
            text.splitlines(keepends=True),
            str(DEFINITION.relative_to(ROOT)),
            "from --about",
        )
        sys.stdout.writelines(diff)
        print(f"{DEFINITION.relative_to(ROOT)} is out of date: run python {__file__}")
        return 1
    DEFINITION.parent.mkdir(parents=True, exist_ok=True)
    DEFINITION.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
