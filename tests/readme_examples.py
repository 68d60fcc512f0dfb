"""The README's examples, read from the README, so that the tests run exactly what it shows.

An example is the fenced block that follows a `<!-- example: NAME -->` line.
"""

from __future__ import annotations

import shlex
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def example(name: str) -> str:
    """The text of the README's example `name` (without its fences)."""
    text = README.read_text(encoding="utf-8")
    marker = f"<!-- example: {name} -->\n"
    if marker not in text:
        msg = f"the README has no example {name!r}"
        raise AssertionError(msg)
    block = text.split(marker, 1)[1]
    assert block.startswith("```"), f"example {name!r} is not followed by a fenced block"
    return block.split("\n", 1)[1].split("\n```", 1)[0] + "\n"


def commands(name: str) -> list[list[str]]:
    """The shell commands of example `name`, one argv each (comments dropped).

    A command ends at a newline outside quotes, as in a shell.
    """
    found: list[list[str]] = []
    pending = ""
    for line in example(name).replace("\\\n", " ").splitlines():
        pending += line + "\n"
        try:
            argv = shlex.split(pending, comments=True)
        except ValueError:  # an open quote: the command goes on
            continue
        if argv:
            found.append(argv)
        pending = ""
    assert not pending.strip(), f"example {name!r} ends inside a quote"
    return found
