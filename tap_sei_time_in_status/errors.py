"""The base of every error a user can act on from its message alone."""

from __future__ import annotations


class SeiTapError(Exception):
    """Reported as its message, without a traceback: the message names what to fix."""
