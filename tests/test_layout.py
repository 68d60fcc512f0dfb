"""The package's folders show the flow, and no lower layer imports a higher one.

create -> poll -> download (`api`, `export`) -> parse (`parsing`) -> emit (`output`), with the
streams orchestrating them and the tap on top. The sandbox is a stand-in server: it imports
nothing of the tap.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "tap_sei_time_in_status"
NAME = PACKAGE.name
#: Lowest first; a module may import its own layer and the ones before it.
LAYERS = [
    ("errors", "url_secrets", "log_limits"),
    ("settings_schema",),
    ("settings",),
    ("windows",),
    ("api",),
    ("export",),
    ("parsing",),
    ("output",),
    ("streams",),
    ("input_files",),
    ("tap", "__main__", "__init__"),
]


def layer_of(module: str) -> int:
    """The layer of a dotted module name inside the package."""
    first = module.split(".")[1] if "." in module else "__init__"
    for number, names in enumerate(LAYERS):
        if first in names:
            return number
    raise AssertionError(f"{module} belongs to no layer: add it to LAYERS")


def imports_of(path: Path) -> set[str]:
    """The package's modules that a file imports (type-only imports included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == NAME:
                found.update(f"{NAME}.{alias.name}" for alias in node.names)
            elif node.module.startswith(f"{NAME}."):
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith(f"{NAME}."))
    return found


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts)


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if "sandbox" not in p.parts)


@pytest.mark.parametrize("path", MODULES, ids=module_name)
def test_no_module_imports_a_higher_layer(path: Path) -> None:
    module = module_name(path)
    upward = [i for i in sorted(imports_of(path)) if layer_of(i) > layer_of(module)]
    assert not upward, f"{module} (layer {layer_of(module)}) imports higher layers: {upward}"


def test_the_sandbox_imports_nothing_of_the_tap() -> None:
    for path in (PACKAGE / "sandbox").rglob("*.py"):
        assert not imports_of(path), path


def test_the_top_holds_only_the_entry_points_and_the_foundation() -> None:
    top = sorted(p.stem for p in PACKAGE.glob("*.py"))
    assert top == [
        "__init__",
        "__main__",
        "errors",
        "input_files",
        "log_limits",
        "settings",
        "settings_schema",
        "streams",
        "tap",
        "url_secrets",
        "windows",
    ]
    packages = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists())
    assert packages == ["api", "export", "output", "parsing", "sandbox"]


def test_a_higher_import_is_caught(tmp_path: Path) -> None:
    client = tmp_path / "client.py"
    client.write_text(
        "import typing as t\n"
        f"from {NAME}.export.job import ExportJob\n"
        "if t.TYPE_CHECKING:\n"
        f"    from {NAME} import streams\n"
    )
    found = imports_of(client)
    assert found == {f"{NAME}.export.job", f"{NAME}.streams"}
    assert all(layer_of(i) > layer_of(f"{NAME}.api.client") for i in found)
    with pytest.raises(AssertionError, match="no layer"):
        layer_of(f"{NAME}.somewhere.new")


#: A class this long usually holds a second idea that wants a module of its own.
MOST_CLASS_LINES = 250


@pytest.mark.parametrize("path", MODULES, ids=module_name)
def test_no_class_gathers_more_than_one_idea(path: Path) -> None:
    long = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ClassDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > MOST_CLASS_LINES
    ]
    assert not long, f"{module_name(path)}: {long}"
