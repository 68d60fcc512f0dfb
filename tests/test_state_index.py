"""A partition's state is found by index: the same dict the SDK would find, without a scan each."""

from __future__ import annotations

import typing as t

import pytest
from singer_sdk.helpers import _state as sdk_state

from tap_sei_time_in_status.output.state_index import IndexedStateManager

STREAM = "time_in_status"


def context(n: int) -> dict[str, str]:
    return {"scope_type": "team", "scope_id": f"team_{n:05d}"}


def manager(tap_state: dict[str, t.Any]) -> IndexedStateManager:
    return IndexedStateManager(stream_name=STREAM, tap_state=tap_state, tap_name="tap")


def state_of(partitions: int) -> dict[str, t.Any]:
    return {
        "bookmarks": {
            STREAM: {
                "partitions": [
                    {"context": context(n), "replication_key_value": f"v{n}"}
                    for n in range(partitions)
                ]
            }
        }
    }


@pytest.fixture
def scans(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The SDK's linear scans of the partitions list, counted."""
    calls: list[int] = []
    scan = sdk_state._find_in_partitions_list

    def counted(partitions: list[dict[str, t.Any]], ctx: dict[str, t.Any]) -> t.Any:
        calls.append(len(partitions))
        return scan(partitions, ctx)

    monkeypatch.setattr(sdk_state, "_find_in_partitions_list", counted)
    return calls


def test_thousands_of_partitions_are_found_without_a_scan_each(scans: list[int]) -> None:
    tap_state = state_of(3000)
    states = manager(tap_state)
    listed = tap_state["bookmarks"][STREAM]["partitions"]
    for _ in range(3):  # asked several times per partition, as a sync does
        for n in reversed(range(3000)):
            assert states.get_context_state(context(n)) is listed[n]
    assert scans == []


def test_new_partitions_are_added_once_then_found(scans: list[int]) -> None:
    tap_state: dict[str, t.Any] = {}  # a first run: no state at all
    states = manager(tap_state)
    created = [states.get_context_state(context(n)) for n in range(3000)]
    assert created[99] == {"context": context(99)}
    assert states.get_context_state(context(99)) is created[99]
    assert tap_state["bookmarks"][STREAM]["partitions"] == created
    assert scans == []


def test_a_replaced_or_reordered_list_is_read_again() -> None:
    tap_state = state_of(5)
    states = manager(tap_state)
    assert states.get_context_state(context(3))["replication_key_value"] == "v3"
    partitions = tap_state["bookmarks"][STREAM]["partitions"]
    partitions.reverse()  # the same list, moved entries
    assert states.get_context_state(context(3)) is partitions[1]
    tap_state["bookmarks"][STREAM]["partitions"] = [{"context": context(3), "x": 1}]
    assert states.get_context_state(context(3)) == {"context": context(3), "x": 1}


def test_a_partition_listed_twice_is_refused_as_the_sdk_does() -> None:
    tap_state = state_of(3)
    tap_state["bookmarks"][STREAM]["partitions"].append({"context": context(1)})
    with pytest.raises(ValueError, match="duplicate entries for partition"):
        manager(tap_state).get_context_state(context(1))
