"""The files the tap is given (`--config`, `--state`, `--catalog`): JSON objects, or one line.

singer-sdk reads them before any check of the tap's: a file that is not JSON, not an object,
or nested absurdly deep would end in a traceback (or, for a JSON list of pairs, be taken as a
config). So the tap's entry point reads each first, and a bad one ends the run with one line
naming the option and the file, never its content (a config holds the key).
"""

from __future__ import annotations

import json
import typing as t

from tap_sei_time_in_status.errors import SeiTapError
from tap_sei_time_in_status.log_limits import short

#: Deeper than any config, state or catalog the tap reads (they nest a handful of levels);
#: shallow enough for every recursive reader after this one.
MAX_DEPTH = 64


class InputFileError(SeiTapError):
    """A file given on the command line is not the JSON object the tap expects."""


def read_json_object_file(path: str, option: str) -> dict[str, t.Any]:
    """The JSON object in the file at `path`, given with `option`; else `InputFileError`."""
    what = f"{option} {path}"
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except UnicodeDecodeError as e:
        msg = f"{what} is not UTF-8 text ({e.reason} at byte {e.start:,})"
        raise InputFileError(msg) from None
    except OSError as e:
        msg = f"{what} cannot be read: {e.strerror or type(e).__name__}"
        raise InputFileError(msg) from None
    return parse_json_object(text, what)


def parse_json_object(text: str, what: str, expected: str = "") -> dict[str, t.Any]:
    """`text` as a JSON object no deeper than `MAX_DEPTH`; else `InputFileError` naming `what`.

    `expected` describes the object the file should hold, for the message.
    """
    try:
        value = json.loads(text, parse_constant=_not_json)
    except json.JSONDecodeError as e:
        msg = f"{what} is not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})"
        raise InputFileError(msg) from None
    except ValueError as e:  # NaN, Infinity; an integer of more than 4,300 digits
        msg = f"{what} is not valid JSON ({short(str(e))})"
        raise InputFileError(msg) from None
    except RecursionError:
        value = None
        depth = MAX_DEPTH + 1
    else:
        depth = nesting_depth(value)
    if depth > MAX_DEPTH:
        msg = f"{what} is JSON nested more than {MAX_DEPTH} levels deep; refusing to read it"
        raise InputFileError(msg)
    if not isinstance(value, dict):
        msg = f"{what} holds a JSON {_kind(value)}, not an object ({expected or '{...}'})"
        raise InputFileError(msg)
    return value


def _not_json(constant: str) -> t.NoReturn:
    """Python's json reads NaN and Infinity, which are not JSON (singer-sdk's reader fails)."""
    msg = f"{constant} is not a JSON value"
    raise ValueError(msg)


def nesting_depth(value: object) -> int:
    """How deeply lists and objects nest in `value` (a scalar is 0); iterative, linear."""
    deepest = 0
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: t.Iterable[object] = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth + 1)
        if deepest > MAX_DEPTH:
            return deepest
        stack.extend((child, depth + 1) for child in children)
    return deepest


def _kind(value: object) -> str:
    if isinstance(value, list):
        return "list"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    return "number"
