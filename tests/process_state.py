"""What a tap run changes in its process, saved before an in-process run and put back after.

A real process starts clean and throws its state away when it ends; an in-process run (a
tenth of the cost) must do both by hand, or one run's logging handlers, hooks, signal handlers,
temporary directory or threads would leak into the next run and into pytest.
"""

from __future__ import annotations

import contextlib
import csv
import logging
import os
import signal
import sys
import tempfile
import threading
import time
import typing as t
import warnings
from collections.abc import Iterator

from tap_sei_time_in_status.export import temp_area

#: Threads of the sandbox (and of other test servers) that serve requests: not the tap's.
SERVER_THREADS = "(process_request_thread)"
#: How long the tap's threads may take to end after the run, as an exiting process waits.
THREADS_GRACE_SECONDS = 10.0


class ThreadsLeftError(AssertionError):
    """A thread of the run outlived it: it would leak into the next run (and did not end)."""


@contextlib.contextmanager
def isolated_run(env: dict[str, str], stdout: t.TextIO, stderr: t.TextIO) -> Iterator[None]:
    """Run the block as a fresh process would run: its own environment, std streams, logging
    set-up, hooks, signal handlers and temporary directory; then put everything back.

    The threads the block started must end with it (`ThreadsLeftError` if they do not).
    """
    threads = set(threading.enumerate())
    saved_env = dict(os.environ)
    saved = _Saved()
    os.environ.update(env)
    tempfile.tempdir = env.get("TMPDIR")  # gettempdir() cached pytest's: the run's, as a process
    temp_area.PROCESS_STARTED = time.time()  # "older than this process" is older than the run
    sys.stdout, sys.stderr = stdout, stderr
    root = logging.getLogger()
    root.handlers = []  # a fresh process has none; pytest's would also see the tap's lines
    try:
        with warnings.catch_warnings():
            try:
                yield
            finally:
                logging.captureWarnings(capture=False)  # singer-sdk turns it on
                _join_new_threads(threads)
    finally:
        saved.restore()
        os.environ.clear()
        os.environ.update(saved_env)


class _Saved:
    """The process-wide settings a run may change, as they were before it."""

    def __init__(self) -> None:
        self.tempdir = tempfile.tempdir
        self.process_started = temp_area.PROCESS_STARTED
        self.stdout, self.stderr = sys.stdout, sys.stderr
        self.excepthook = sys.excepthook
        self.threading_excepthook = threading.excepthook
        self.signals = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
        self.field_size_limit = csv.field_size_limit()
        self.loggers = {
            logger: _LoggerState(logger)
            for logger in [
                logging.getLogger(),
                *(
                    v
                    for v in logging.Logger.manager.loggerDict.values()
                    if isinstance(v, logging.Logger)
                ),
            ]
        }
        last_resort = logging.lastResort
        self.last_resort_filters = list(last_resort.filters) if last_resort else []

    def restore(self) -> None:
        tempfile.tempdir = self.tempdir
        temp_area.PROCESS_STARTED = self.process_started
        sys.stdout, sys.stderr = self.stdout, self.stderr
        sys.excepthook = self.excepthook
        threading.excepthook = self.threading_excepthook
        for number, handler in self.signals.items():
            signal.signal(number, handler)
        csv.field_size_limit(self.field_size_limit)
        for logger, state in self.loggers.items():
            state.restore(logger)
        if logging.lastResort is not None:
            logging.lastResort.filters = self.last_resort_filters


class _LoggerState:
    def __init__(self, logger: logging.Logger) -> None:
        self.level = logger.level
        self.handlers = list(logger.handlers)
        self.filters = list(logger.filters)
        self.propagate = logger.propagate
        self.disabled = logger.disabled

    def restore(self, logger: logging.Logger) -> None:
        logger.setLevel(self.level)
        logger.handlers = self.handlers
        logger.filters = self.filters
        logger.propagate = self.propagate
        logger.disabled = self.disabled


def _join_new_threads(before: set[threading.Thread]) -> None:
    """Wait for the run's threads, as an exiting process waits for its non-daemon threads.

    Daemon threads too: a process would kill them, an in-process run must not leave them.
    """
    deadline = time.monotonic() + THREADS_GRACE_SECONDS
    left = []
    for thread in threading.enumerate():
        if thread in before or SERVER_THREADS in thread.name:
            continue
        thread.join(max(0.0, deadline - time.monotonic()))
        if thread.is_alive():
            left.append(thread.name)
    if left:
        msg = f"threads of the tap outlived the run: {left}"
        raise ThreadsLeftError(msg)
