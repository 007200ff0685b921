"""academy.cli's periodic loop (`run_every`) and stop signals (`StopSignals`), shared by
reconcile_video_processing --loop, deliver_webhooks --loop and the worker: a signal ends the
loop after the pass in flight, a failing pass never ends it, the handlers come back after."""

from __future__ import annotations

import itertools
import os
import signal
import threading
import time
from types import SimpleNamespace

import pytest

from academy import cli
from academy.cli import StopSignals, run_every


def send_soon(sig: signal.Signals = signal.SIGTERM) -> None:
    os.kill(os.getpid(), sig)


def test_a_pass_runs_every_interval_until_sigterm_and_the_handlers_come_back(monkeypatch):
    before = signal.getsignal(signal.SIGTERM)
    starts: list[float] = []
    # The loop's own clock: a pass's start is the last reading the loop took before calling
    # it. A reading taken inside the pass lags by a scheduling delay that differs pass to
    # pass, so gaps between such readings could fall short of the interval by microseconds.
    readings: list[float] = []

    def loop_clock() -> float:
        readings.append(time.monotonic())
        return readings[-1]

    monkeypatch.setattr(cli, "time", SimpleNamespace(monotonic=loop_clock, sleep=time.sleep))

    def one_pass(stopping):
        starts.append(readings[-1])
        if len(starts) == 3:
            send_soon()  # during the third pass: it finishes, no fourth starts

    stop = run_every(0.2, one_pass, on_error=pytest.fail, check_every=0.01)
    assert stop == "SIGTERM"
    assert len(starts) == 3
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert all(gap >= 0.2 for gap in gaps), gaps
    assert signal.getsignal(signal.SIGTERM) is before


def test_sigint_in_the_wait_ends_it_without_waiting_the_interval_out():
    def one_pass(_stopping):
        threading.Timer(0.1, send_soon, args=(signal.SIGINT,)).start()

    started = time.monotonic()
    stop = run_every(3600, one_pass, on_error=pytest.fail, check_every=0.01)
    assert stop == "SIGINT"
    assert time.monotonic() - started < 5  # not an hour: the wait looks at the flag


def test_the_pass_in_flight_sees_the_stop_through_its_predicate():
    seen = []

    def one_pass(stopping):
        seen.append(stopping())
        send_soon()
        seen.append(stopping())

    assert run_every(0.1, one_pass, on_error=pytest.fail) == "SIGTERM"
    assert seen == [False, True]


def test_a_failing_pass_is_handed_to_on_error_and_the_loop_goes_on_after_its_wait():
    errors: list[str] = []
    starts: list[float] = []

    def one_pass(_stopping):
        starts.append(time.monotonic())
        if len(starts) == 1:
            raise ConnectionError("database down")
        send_soon()

    def on_error(exc: Exception) -> float:
        errors.append(f"{type(exc).__name__}: {exc}")
        return 0.3  # longer than the interval: the next pass waits for it

    assert run_every(0.01, one_pass, on_error, check_every=0.01) == "SIGTERM"
    assert errors == ["ConnectionError: database down"]
    assert len(starts) == 2 and starts[1] - starts[0] >= 0.3


def test_stop_signals_records_each_signal_in_order_and_restores_the_handlers():
    # Whatever was installed before (a shell's background job starts with SIGINT ignored).
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    with StopSignals() as signals:
        assert signals.first is None
        send_soon(signal.SIGINT)
        send_soon(signal.SIGTERM)
        assert signals.received == ["SIGINT", "SIGTERM"] and signals.first == "SIGINT"
    assert {sig: signal.getsignal(sig) for sig in before} == before
