"""The worker's GIL switch interval (runtime.scheduling.switch_threads_briskly)."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from prorata.runtime import scheduling


@pytest.fixture(autouse=True)
def _restored() -> Iterator[None]:
    before = sys.getswitchinterval()
    yield
    sys.setswitchinterval(before)


def test_the_interval_is_shortened_to_the_workers() -> None:
    sys.setswitchinterval(0.005)
    scheduling.switch_threads_briskly(scheduling.WORKER_SWITCH_INTERVAL)
    assert sys.getswitchinterval() == pytest.approx(scheduling.WORKER_SWITCH_INTERVAL, rel=0.01)


def test_a_shorter_interval_already_set_is_kept() -> None:
    """A worker exporting spans: the span processor's 1 ms does not undo the worker's 0.2 ms,
    whichever is asked for first."""
    sys.setswitchinterval(0.005)
    scheduling.switch_threads_briskly(scheduling.WORKER_SWITCH_INTERVAL)
    scheduling.switch_threads_briskly(scheduling.SPAN_EXPORT_SWITCH_INTERVAL)
    assert sys.getswitchinterval() == pytest.approx(scheduling.WORKER_SWITCH_INTERVAL, rel=0.01)
