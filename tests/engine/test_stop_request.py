"""The SIGTERM stop is a request honoured at the next clip, not an exception at any bytecode."""

from __future__ import annotations

import os
import signal

import pytest

from cleverward.cli.score_cmd import _sigterm_as_interrupt
from cleverward.engine.stop_request import stop_point, stop_requested


def test_first_sigterm_is_a_request_the_next_stop_point_raises():
    with _sigterm_as_interrupt():
        os.kill(os.getpid(), signal.SIGTERM)  # the handler runs before kill returns here
        assert stop_requested()  # recorded, nothing raised mid-statement
        with pytest.raises(KeyboardInterrupt):
            stop_point()
    assert not stop_requested()  # a later run in this process starts clean
    stop_point()  # no request: nothing happens


def test_a_second_sigterm_stops_at_once():
    before = signal.getsignal(signal.SIGTERM)
    with _sigterm_as_interrupt():
        os.kill(os.getpid(), signal.SIGTERM)
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGTERM)
    assert signal.getsignal(signal.SIGTERM) == before and not stop_requested()
