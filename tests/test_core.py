"""singer-sdk's standard tap tests, run in-process against a sandbox on 127.0.0.1.

They check discovery, the CLI and a full sync; the project's own tests (test_sync.py) check
what these leave out: key uniqueness, per-partition state and resumption.
"""

from __future__ import annotations

import atexit

from singer_sdk.testing import get_tap_test_class

from tap_sei_time_in_status.sandbox import SandboxConfig, SandboxServer
from tap_sei_time_in_status.tap import TapSeiTimeInStatus
from tests.conftest import API_KEY, tap_config
from tests.tap_runner import selecting

# The test class is built at import time with its config, so the sandbox starts here.
_SANDBOX = SandboxServer(SandboxConfig(api_key=API_KEY, export_seconds=0.05)).start()
atexit.register(_SANDBOX.close)

_CONFIG = tap_config(_SANDBOX, start_date="2025-01-01", end_date="2025-03-31")

# Both streams, the opt-in `time_in_status_by_status` too, so that both are checked.
TestTapSeiTimeInStatus = get_tap_test_class(
    tap_class=TapSeiTimeInStatus,
    config=_CONFIG,
    catalog=selecting(
        TapSeiTimeInStatus(config=_CONFIG).catalog_dict,
        "time_in_status",
        "time_in_status_by_status",
    ),
)
