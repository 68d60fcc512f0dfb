"""`python -m tap_sei_time_in_status` runs the tap."""

from tap_sei_time_in_status.tap import TapSeiTimeInStatus

TapSeiTimeInStatus.cli()
