"""Which tests share a pytest-xdist worker, one after another: a scheduler of our own.

`--dist loadgroup` reads `xdist_group` marks from a suffix of the node id, which pytest 9.2's
structured node ids silently drop (pytest-xdist issue 1386): the marks would be ignored. This
scheduler groups by module and name instead; every other test is scheduled on its own. Groups
go first (the largest first), so the long ones start while the short ones fill the gaps.
"""

from __future__ import annotations

from typing_extensions import override
from xdist.scheduler import LoadGroupScheduling

#: Meltano tests on PostgreSQL whose name does not say so (they balance the two groups).
MELTANO_ALSO_ON_POSTGRES = {"test_stand_in_hierarchy_rows_are_dropped_by_the_readme_script"}


def serial_group(nodeid: str) -> str | None:
    """The group of the test `nodeid`, or None for a test scheduled on its own.

    - `test_packaging.py`: its module fixtures (a clone, the wheel, a venv) are built once.
    - `test_meltano.py`: Meltano runs are CPU-bound (meltano, the tap and the loader are three
      processes); two workers take them, one after another, while the other workers run the
      tests that mostly wait. The split is for balance only: a worker that needs PostgreSQL
      starts its own.
    """
    path, _, name = nodeid.partition("::")
    if path == "tests/test_packaging.py":
        return "packaging"
    if path == "tests/test_meltano.py":
        on_postgres = "postgres" in name or name in MELTANO_ALSO_ON_POSTGRES
        return "meltano-postgres" if on_postgres else "meltano"
    return None


class SerialGroupScheduling(LoadGroupScheduling):  # type: ignore[misc] # xdist has no types
    """`loadgroup` scheduling with the groups of `serial_group`."""

    @override
    def _split_scope(self, nodeid: str) -> str:
        return serial_group(nodeid) or str(super()._split_scope(nodeid))
