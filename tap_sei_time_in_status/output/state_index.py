"""Finding a partition's state in O(1), whatever the number of partitions.

singer-sdk finds a partition's state by scanning the stream's list of partitions, and asks
for it several times per partition and window (the tap's bookmarks and in-flight exports,
the SDK's own finalizing), and scans it again to add a new partition: quadratic work for
thousands of teams. This manager indexes the list by context and checks each hit against the
list itself, so an index that went stale (the state replaced, an entry moved) is rebuilt
rather than trusted.
"""

from __future__ import annotations

import typing as t

from singer_sdk.streams._state import StreamStateManager
from typing_extensions import override

if t.TYPE_CHECKING:
    from singer_sdk.helpers import types

_Key = tuple[tuple[str, t.Any], ...]


def _key(context: t.Mapping[str, t.Any]) -> _Key | None:
    """A hashable form of a context; None when a value cannot be hashed (no index then)."""
    key = tuple(sorted(context.items()))
    try:
        hash(key)
    except TypeError:
        return None
    return key


class IndexedStateManager(StreamStateManager):
    """singer-sdk's state manager with the partitions list indexed by context."""

    def __init__(self, **kwargs: t.Any) -> None:  # noqa: ANN401 - the SDK's own arguments
        super().__init__(**kwargs)
        self._indexed: list[dict[str, t.Any]] | None = None
        self._positions: dict[_Key, int] = {}
        self._count = 0  # entries of `_indexed` read so far
        self._twice: set[_Key] = set()

    @override
    def get_context_state(self, context: types.Context | None) -> dict[str, t.Any]:
        if self.state_partitioning_keys is not None or not context:
            return super().get_context_state(context)
        key = _key(context)
        if key is None:
            return super().get_context_state(context)
        found = self._lookup(key)
        if found is not None:
            return found
        partitions = self._partitions(create=True)
        if partitions is None or key in self._twice:
            # Listed twice (or a state of another shape): the SDK's to refuse, with its message.
            return super().get_context_state(context)
        found = {"context": dict(context)}  # a new partition, appended as the SDK would
        partitions.append(found)
        return found

    def _lookup(self, key: _Key) -> dict[str, t.Any] | None:
        partitions = self._partitions()
        if partitions is None:
            return None
        if partitions is not self._indexed or self._count > len(partitions):
            self._reset(partitions)
        self._index(partitions)
        position = self._positions.get(key)
        if position is None or key in self._twice:
            return None
        entry = partitions[position]
        if _context_key(entry) == key:
            return entry
        self._reset(partitions)  # an entry moved: read the list again, once
        self._index(partitions)
        position = self._positions.get(key)
        return None if position is None or key in self._twice else partitions[position]

    def _reset(self, partitions: list[dict[str, t.Any]]) -> None:
        self._indexed, self._positions, self._count, self._twice = partitions, {}, 0, set()

    def _index(self, partitions: list[dict[str, t.Any]]) -> None:
        """Index the entries added since the last call."""
        for position in range(self._count, len(partitions)):
            key = _context_key(partitions[position])
            if key is None:
                continue
            if key in self._positions:
                self._twice.add(key)
            self._positions.setdefault(key, position)
        self._count = len(partitions)

    def _partitions(self, *, create: bool = False) -> list[dict[str, t.Any]] | None:
        """The stream's list of partitions; with `create`, an empty one where there is none."""
        bookmarks = self.tap_state.get("bookmarks")
        if bookmarks is None and create:
            bookmarks = self.tap_state["bookmarks"] = {}
        stream_state = bookmarks.get(self.stream_name) if isinstance(bookmarks, dict) else None
        if stream_state is None and create and isinstance(bookmarks, dict):
            stream_state = bookmarks[self.stream_name] = {}
        if not isinstance(stream_state, dict):
            return None
        if "partitions" not in stream_state and create:
            stream_state["partitions"] = []
        partitions = stream_state.get("partitions")
        return partitions if isinstance(partitions, list) else None


def _context_key(entry: t.Any) -> _Key | None:  # noqa: ANN401 - whatever the state holds
    context = entry.get("context") if isinstance(entry, dict) else None
    return _key(context) if isinstance(context, dict) else None
