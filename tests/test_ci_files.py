"""CI files that cannot run here: checked against their JSON schemas and against the project.

The schemas are the ones check-jsonschema ships (no network): GitHub workflows (plus its rule
that every job has a `timeout-minutes`), dependabot.yml and meltano.yml.
"""

from __future__ import annotations

import re
import subprocess
import sys
import typing as t
from importlib import metadata
from pathlib import Path

import pytest
import yaml

from tests.postgres_server import ENV_URL, PostgresServer

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def check_jsonschema(schema: str, *files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", schema, *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def load(path: Path) -> dict[t.Any, t.Any]:
    document: dict[t.Any, t.Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return document


def workflow(name: str) -> dict[t.Any, t.Any]:
    return load(ROOT / ".github" / "workflows" / name)


@pytest.mark.parametrize(
    ("schema", "files"),
    [
        ("vendor.github-workflows", WORKFLOWS),
        ("custom.github-workflows-require-timeout", WORKFLOWS),
        ("vendor.dependabot", [ROOT / ".github" / "dependabot.yml"]),
        ("vendor.meltano", [ROOT / "meltano.yml"]),
    ],
)
def test_files_validate_against_their_schema(schema: str, files: list[Path]) -> None:
    assert files
    done = check_jsonschema(schema, *files)
    assert done.returncode == 0, done.stdout + done.stderr


def test_schema_check_refuses_a_broken_workflow(tmp_path: Path) -> None:
    broken = load(ROOT / ".github" / "workflows" / "test.yml")
    del broken["jobs"]["test"]["runs-on"]
    path = tmp_path / "broken.yml"
    path.write_text(yaml.safe_dump(broken), encoding="utf-8")
    assert check_jsonschema("vendor.github-workflows", path).returncode == 1


def test_pre_commit_config_is_valid() -> None:
    done = subprocess.run(
        [str(BIN / "pre-commit"), "validate-config", str(ROOT / ".pre-commit-config.yaml")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    hooks = {h["id"] for r in load(ROOT / ".pre-commit-config.yaml")["repos"] for h in r["hooks"]}
    assert {"ruff-check", "ruff-format", "mypy", "check-meltano"} <= hooks


def test_matrix_is_the_supported_pythons() -> None:
    project = metadata.metadata("tap-sei-time-in-status")  # from pyproject.toml
    classified = [
        c.rsplit(" :: ", 1)[1]
        for c in project.get_all("Classifier") or []
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    ]
    matrix = workflow("test.yml")["jobs"]["test"]["strategy"]["matrix"]["python-version"]
    assert matrix == classified == ["3.10", "3.11", "3.12", "3.13"]
    assert project["Requires-Python"] == f">={matrix[0]}"


def test_tests_use_the_postgres_service_container(monkeypatch: pytest.MonkeyPatch) -> None:
    job = workflow("test.yml")["jobs"]["test"]
    service = job["services"]["postgres"]
    assert service["image"] == "postgres:15"  # the version the local tests start
    monkeypatch.setenv(ENV_URL, job["env"][ENV_URL])
    server = PostgresServer.from_environment()
    assert (server.user, server.password, server.database) == (
        service["env"]["POSTGRES_USER"],
        service["env"]["POSTGRES_PASSWORD"],
        service["env"]["POSTGRES_DB"],
    )
    assert f"{server.port}:5432" in service["ports"]
    with server:  # an external server is neither started nor stopped by the tests
        assert server.running
    assert "make test" in job["steps"][-1]["run"]


def test_release_publishes_by_trusted_publishing_on_a_tag() -> None:
    release = workflow("release.yml")
    assert release[True]["push"]["tags"] == ["v*"]  # YAML 1.1 reads the key `on` as True
    build, publish = release["jobs"]["build"], release["jobs"]["publish"]
    runs = "\n".join(step.get("run", "") for step in build["steps"])
    assert "uv build" in runs
    assert "twine check --strict dist/*" in runs
    checkout = build["steps"][0]
    assert checkout["uses"].startswith("actions/checkout@")
    assert checkout["with"]["fetch-depth"] == 0  # tags reach the build: the version
    assert publish["needs"] == "build"
    assert publish["if"] == "startsWith(github.ref, 'refs/tags/v')"
    assert publish["permissions"] == {"id-token": "write"}
    assert publish["environment"]["name"] == "pypi"
    assert publish["steps"][-1]["uses"] == "pypa/gh-action-pypi-publish@release/v1"
    assert all("password" not in step.get("with", {}) for step in publish["steps"])
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    (uv_version,) = re.findall(r"^UV_VERSION := (\S+)$", makefile, re.MULTILINE)
    assert f"uv=={uv_version}" in runs


def test_dependabot_watches_the_lock_file_and_the_actions() -> None:
    updates = load(ROOT / ".github" / "dependabot.yml")["updates"]
    assert {(u["package-ecosystem"], u["directory"]) for u in updates} == {
        ("uv", "/"),
        ("github-actions", "/"),
    }
    assert (ROOT / "uv.lock").exists()


def assert_pinned_with_hashes(lock: str) -> None:
    """Each requirement: `name==version \\` (markers allowed), then its hashes."""
    entries = re.split(r"\n(?=\S)", lock)
    requirements = [e for e in entries if e and not e.startswith("#")]
    assert len(requirements) > 20
    for entry in requirements:
        assert re.match(r"^[A-Za-z0-9._-]+(\[[^]]+\])?==\S+", entry), entry
        assert "--hash=sha256:" in entry, entry


def test_meltano_lock_pins_everything_with_hashes() -> None:
    wanted = re.findall(
        r"^meltano==(\S+)$", (ROOT / "requirements" / "meltano.in").read_text(), re.MULTILINE
    )
    lock = (ROOT / "requirements" / "meltano.txt").read_text(encoding="utf-8")
    assert wanted
    assert re.findall(r"^meltano==(\S+) ", lock, re.MULTILINE) == wanted
    assert_pinned_with_hashes(lock)


def test_snowflake_offline_lock_holds_meltano_ymls_loader_and_fakesnow_with_hashes() -> None:
    """The offline Snowflake test loads with the target-snowflake that meltano.yml installs."""
    loaders = load(ROOT / "meltano.yml")["plugins"]["loaders"]
    (snowflake,) = [p["pip_url"] for p in loaders if p["name"] == "target-snowflake"]
    wanted = (ROOT / "requirements" / "snowflake-offline.in").read_text(encoding="utf-8")
    assert snowflake in wanted.splitlines()
    lock = (ROOT / "requirements" / "snowflake-offline.txt").read_text(encoding="utf-8")
    pins = set(re.findall(r"^(\S+==\S+) ", lock, re.MULTILINE))
    assert {snowflake, "fakesnow==0.12.1"} <= pins
    assert_pinned_with_hashes(lock)


def test_changelog_keeps_a_changelog() -> None:
    """Release headings `## [X.Y.Z] - YYYY-MM-DD` (or `Unreleased`), newest first, each with
    Keep a Changelog sections; release.yml refuses a tag without its dated heading."""
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert "[Keep a Changelog](https://keepachangelog.com/" in text
    headings = re.findall(r"^## (.*)$", text, re.MULTILINE)
    assert headings
    versions = []
    for heading in headings:
        match = re.fullmatch(r"\[(\d+)\.(\d+)\.(\d+)\] - (\d{4}-\d{2}-\d{2}|Unreleased)", heading)
        assert match, f"not a Keep a Changelog heading: {heading!r}"
        versions.append(tuple(int(g) for g in match.groups()[:3]))
    assert versions == sorted(versions, reverse=True)
    kinds = set(re.findall(r"^### (.*)$", text, re.MULTILINE))
    assert kinds
    assert kinds <= {"Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"}
