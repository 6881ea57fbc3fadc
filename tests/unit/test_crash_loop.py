"""`launcher.Child.supervise`: what counts as a crash loop. Restarts are counted in a row,
however long each child took to fail; a child that ran a minute starts the count again."""

from __future__ import annotations

import time
from typing import Any

import pytest

from prorata.runtime import launcher


class _Exited:
    """A child process that has exited with `returncode`."""

    def __init__(self, returncode: int) -> None:
        self.returncode = returncode

    def poll(self) -> int:
        return self.returncode


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> _Clock:
    clock = _Clock()
    monkeypatch.setattr(time, "monotonic", clock)  # the launcher's clock
    monkeypatch.setattr(launcher, "_spawn", lambda *_: _Exited(2))
    return clock


def _fail_after(child: launcher.Child, clock: _Clock, seconds: float) -> bool:
    """The child exits `seconds` after its start; then the supervisor waits out the back-off
    and restarts it. True when the supervisor gives up instead."""
    clock.now = child.started + seconds
    if child.supervise():
        return True
    assert child.restart_at is not None
    clock.now = child.restart_at
    assert not child.supervise()
    return False


def _child(clock: _Clock) -> Any:
    """A worker started now (by the clock's reckoning)."""
    assert time.monotonic() == clock.now
    return launcher.Child("worker", {})


@pytest.mark.parametrize("lifetime", [0.5, 7.0, 59.0])
def test_the_sixth_quick_exit_in_a_row_ends_everything(clock: _Clock, lifetime: float) -> None:
    """However long a child takes to fail (7 s: a loaded machine importing the worker made
    five restarts outlast the minute the rule used to count in)."""
    child = _child(clock)
    assert not any(_fail_after(child, clock, lifetime) for _ in range(launcher.CRASH_LOOP_RESTARTS))
    assert child.restarts == launcher.CRASH_LOOP_RESTARTS
    assert _fail_after(child, clock, lifetime)


def test_a_child_that_ran_a_minute_starts_the_count_again(clock: _Clock) -> None:
    child = _child(clock)
    for _ in range(launcher.CRASH_LOOP_RESTARTS):
        assert not _fail_after(child, clock, 1.0)
    assert not _fail_after(child, clock, launcher.STABLE_AFTER_SECONDS)
    assert child.restarts == 1
    assert child.delay == launcher.RESTART_FIRST_SECONDS * 2  # the back-off starts again too
