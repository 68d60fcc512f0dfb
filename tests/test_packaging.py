"""The package other teams install: built from a clean clone, installed in a fresh venv, run.

The wheel is built from a clone of the committed HEAD (without tags, as CI's clone is), the way
PyPI will get it: `uv build` makes the sdist, then the wheel from the sdist, so a file missing
from the sdist fails here. The wheel is installed with the versions of uv.lock into a new venv
and run from there against the sandbox, away from this source tree.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tarfile
import typing as t
import zipfile
from pathlib import Path

import pytest

from tap_sei_time_in_status.sandbox import SandboxServer
from tests.conftest import served_rows, tap_config
from tests.tap_runner import parse_messages

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SOURCE_VERSION = "0.1.0.dev0"  # pyproject.toml's fallback-version
PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
# Builds, clones and venvs take seconds per test: `-m "not slow"` leaves them out.
pytestmark = pytest.mark.slow


def run(command: t.Sequence[str | Path], cwd: Path | None = None) -> str:
    """Run a tool; on failure, show what it said."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UV_", "VIRTUAL_ENV"))}
    done = subprocess.run(
        [str(c) for c in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"{command} exited {done.returncode}:\n{done.stderr[-3000:]}"
    return done.stdout


def uv() -> Path:
    path = BIN / "uv"
    if not path.exists():
        pytest.fail(f"uv is not installed at {path}: run `make setup` first")
    return path


def clone(source: Path, target: Path, *options: str) -> Path:
    """A clone of `source`'s HEAD, without tags."""
    head = run(["git", "rev-parse", "HEAD"], cwd=source).strip()
    run(["git", "clone", "--quiet", "--no-tags", "--no-checkout", *options, source, target])
    run(["git", "checkout", "--quiet", "--detach", head], cwd=target)
    return target


def sdist_version(source: Path, out: Path) -> str:
    run([uv(), "build", "--quiet", "--sdist", "--out-dir", out, source])
    (sdist,) = out.glob("*.tar.gz")
    return sdist.name.removeprefix("tap_sei_time_in_status-").removesuffix(".tar.gz")


@pytest.fixture(scope="module")
def clean_clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return clone(ROOT, tmp_path_factory.mktemp("clone") / "repo")


@pytest.fixture(scope="module")
def dist(clean_clone: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    run([uv(), "build", "--quiet", "--out-dir", out, clean_clone])
    return out


@pytest.fixture(scope="module")
def wheel(dist: Path) -> Path:
    (path,) = dist.glob("*.whl")
    return path


@pytest.fixture(scope="module")
def venv(wheel: Path, clean_clone: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding the wheel and its dependencies at uv.lock's versions."""
    base = tmp_path_factory.mktemp("venv")
    constraints = base / "constraints.txt"
    export = ["export", "--quiet", "--frozen", "--no-emit-project", "--no-hashes", "--no-header"]
    run([uv(), *export, "--no-annotate", "--output-file", constraints], cwd=clean_clone)
    path = base / "venv"
    run([uv(), "venv", "--quiet", "--python", sys.executable, path])
    python = path / "bin" / "python"
    run([uv(), "pip", "install", "--quiet", "--python", python, "--constraint", constraints, wheel])
    return path


def wheel_version(wheel: Path) -> str:
    return wheel.name.split("-")[1]


def test_version_comes_from_git(wheel: Path, clean_clone: Path) -> None:
    """No tag in the clone: a development build of 0.1.0 naming the commit."""
    commits = run(["git", "rev-list", "--count", "HEAD"], cwd=clean_clone).strip()
    sha = run(["git", "rev-parse", "HEAD"], cwd=clean_clone).strip()
    assert re.fullmatch(rf"0\.1\.0\.dev{commits}\+g{sha[:7]}[0-9a-f]*", wheel_version(wheel))


@pytest.mark.parametrize("case", ["tag", "after tag", "shallow", "git archive", "no git"])
def test_version_in_every_kind_of_checkout(case: str, tmp_path: Path) -> None:
    repo = clone(ROOT, tmp_path / "repo")
    sha = run(["git", "rev-parse", "HEAD"], cwd=repo).strip()
    if case == "tag":
        run(["git", "tag", "v1.2.3"], cwd=repo)
        assert sdist_version(repo, tmp_path / "out") == "1.2.3"
    elif case == "after tag":
        # Tag the first parent: on a merge commit, commits since the tag count every commit
        # the merge brought in, as `git describe` does.
        run(["git", "tag", "v1.2.3", "HEAD^1"], cwd=repo)
        since = run(["git", "rev-list", "--count", "v1.2.3..HEAD"], cwd=repo).strip()
        assert re.fullmatch(
            rf"1\.2\.4\.dev{since}\+g{sha[:7]}[0-9a-f]*", sdist_version(repo, tmp_path)
        )
    elif case == "shallow":  # actions/checkout's default: one commit, no tags
        shallow = clone(repo, tmp_path / "shallow", "--depth", "1", "--no-local")
        assert re.fullmatch(
            rf"0\.1\.0\.dev1\+g{sha[:7]}[0-9a-f]*", sdist_version(shallow, tmp_path)
        )
    elif case == "git archive":  # a source archive of a tag (GitHub's "Download ZIP", ...)
        run(["git", "tag", "v1.2.3"], cwd=repo)
        run(
            ["git", "archive", "--format=tar", "--prefix=src/", "-o", "src.tar", "v1.2.3"], cwd=repo
        )
        with tarfile.open(repo / "src.tar") as archive:
            archive.extractall(tmp_path, filter="data")
        assert sdist_version(tmp_path / "src", tmp_path / "out") == "1.2.3"
    else:  # a copy of the files, no git metadata at all
        run(["git", "checkout-index", "--all", f"--prefix={tmp_path / 'copy'}/"], cwd=repo)
        assert sdist_version(tmp_path / "copy", tmp_path / "out") == SOURCE_VERSION


def test_sdist_and_wheel_pass_twine_check(dist: Path) -> None:
    out = run([BIN / "twine", "check", "--strict", *sorted(dist.glob("tap_sei_time_in_status-*"))])
    assert out.count("PASSED") == 2


def test_wheel_carries_license_metadata_and_only_the_package(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        info = next(n.rsplit("/", 1)[0] for n in names if n.endswith(".dist-info/METADATA"))
        metadata = archive.read(f"{info}/METADATA").decode()
        license_text = archive.read(f"{info}/licenses/LICENSE").decode()
        entry_points = archive.read(f"{info}/entry_points.txt").decode()
    assert "License-Expression: Apache-2.0" in metadata
    assert "License-File: LICENSE" in metadata
    assert license_text == (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in license_text
    assert "END OF TERMS AND CONDITIONS" in license_text
    assert "Requires-Python: >=3.10" in metadata
    for python in PYTHONS:
        assert f"Classifier: Programming Language :: Python :: {python}" in metadata
    assert "tap-sei-time-in-status = tap_sei_time_in_status.tap:TapSeiTimeInStatus.cli" in (
        entry_points
    )
    assert "sei-sandbox = " in entry_points
    packages = {n.split("/", 1)[0] for n in names} - {info}
    assert packages == {"tap_sei_time_in_status"}


def test_sdist_holds_what_a_release_needs(dist: Path) -> None:
    (sdist,) = dist.glob("*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = {n.split("/", 1)[1] for n in archive.getnames() if "/" in n}
    for name in ("LICENSE", "README.md", "CHANGELOG.md", "pyproject.toml", "PKG-INFO"):
        assert name in names
    assert "tap_sei_time_in_status/sandbox/server.py" in names


def test_installed_wheel_runs_about_discover_and_a_sync(
    venv: Path, wheel: Path, sandbox: SandboxServer, tmp_path: Path
) -> None:
    tap = venv / "bin" / "tap-sei-time-in-status"
    version = wheel_version(wheel)
    where = run(
        [venv / "bin" / "python", "-c", "import tap_sei_time_in_status as m; print(m.__file__)"],
        cwd=tmp_path,
    )
    assert Path(where.strip()).is_relative_to(venv)

    assert run([tap, "--version"], cwd=tmp_path).startswith(f"tap-sei-time-in-status v{version},")
    about = json.loads(run([tap, "--about", "--format", "json"], cwd=tmp_path))
    source_about = json.loads(
        run([sys.executable, "-m", "tap_sei_time_in_status", "--about", "--format", "json"])
    )
    assert about["version"] == version
    assert about["supported_python_versions"] == PYTHONS
    assert about["settings"] == source_about["settings"]
    assert about["capabilities"] == source_about["capabilities"]

    config = tap_config(sandbox)
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config), encoding="utf-8")
    catalog = json.loads(run([tap, "--config", config_path, "--discover"], cwd=tmp_path))
    streams = {s["tap_stream_id"] for s in catalog["streams"]}
    assert streams == {"time_in_status", "time_in_status_by_status"}

    messages = parse_messages(run([tap, "--config", config_path], cwd=tmp_path))
    records = [m for m in messages if m["type"] == "RECORD" and m["stream"] == "time_in_status"]
    assert len(records) == len(served_rows(sandbox, config))
    assert any(m["type"] == "STATE" for m in messages)
    assert "usage: sei-sandbox" in run([venv / "bin" / "sei-sandbox", "--help"], cwd=tmp_path)
