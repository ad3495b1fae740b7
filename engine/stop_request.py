"""A stop asked for from outside (SIGTERM), honoured where the run can stop cleanly.

A signal handler that raises at once can land anywhere in the main thread, including between a
lock's acquire and the `try` that releases it (inside concurrent.futures, say); the run then
deadlocks on its way out instead of stopping. So the handler only records the request, and the
scoring loops call `stop_point()` between clips, where raising KeyboardInterrupt unwinds like
Ctrl-C: the writer closes, and the rows done are kept.
"""

from __future__ import annotations

import threading

_requested = threading.Event()


def request_stop() -> None:
    _requested.set()


def clear_stop() -> None:
    _requested.clear()


def stop_requested() -> bool:
    return _requested.is_set()


def stop_point() -> None:
    """KeyboardInterrupt here when a stop was asked for."""
    if _requested.is_set():
        raise KeyboardInterrupt
