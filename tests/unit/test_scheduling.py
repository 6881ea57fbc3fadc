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
    scheduling.switch_threads_briskly()
    assert sys.getswitchinterval() == pytest.approx(scheduling.WORKER_SWITCH_INTERVAL, rel=0.01)


def test_a_shorter_interval_already_set_is_kept() -> None:
    sys.setswitchinterval(0.0002)
    scheduling.switch_threads_briskly()
    assert sys.getswitchinterval() == pytest.approx(0.0002, rel=0.01)
