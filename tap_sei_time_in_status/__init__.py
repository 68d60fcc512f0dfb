"""Singer tap for the Harness SEI Issue Time-in-Status Export API."""
