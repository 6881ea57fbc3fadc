"""The service processes leave their startup objects out of full collections."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from prorata.runtime import heap


class _Node:
    """A reference cycle: freed only by the garbage collector, never by reference counting."""

    def __init__(self) -> None:
        self.me = self


@pytest.fixture
def unfrozen() -> Iterator[None]:
    """The test process must not keep what a test froze."""
    gc.collect()
    gc.unfreeze()
    yield
    gc.unfreeze()


@pytest.mark.usefixtures("unfrozen")
def test_startup_garbage_is_collected_not_frozen_and_later_garbage_is_collected() -> None:
    kept = _Node()
    dropped = _Node()
    dropped_ref = weakref.ref(dropped)
    del dropped

    heap.freeze_startup_objects()

    assert dropped_ref() is None  # collected before the freeze, not kept forever
    assert gc.get_freeze_count() > 0
    assert not any(obj is kept for obj in gc.get_objects())  # no collection scans it now
    later = _Node()
    later_ref = weakref.ref(later)
    del later
    gc.collect()
    assert later_ref() is None
