"""Hooks: how a lower package tells a higher one that something happened, without importing it.

A package exposes a `Hook` for an event of its own ("a call was issued", "a job failed"); the
package that must act on it connects a subscriber, and `prorata.wiring.connect()` (run by every
entry point) makes those connections in one place. Subscribers get the caller's session and the
event, run in its transaction, in the order they were connected. A hook fired before anything is
connected raises: a notice that silently never renders would be worse than a loud stop.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

E = TypeVar("E")
Subscriber = Callable[[AsyncSession, E], Awaitable[None]]


class NotConnected(RuntimeError):
    """A hook fired with no subscriber: `prorata.wiring.connect()` was not called."""


class Hook(Generic[E]):
    def __init__(self, name: str) -> None:
        self.name = name
        self._subscribers: list[Subscriber[E]] = []

    def connect(self, subscriber: Subscriber[E]) -> None:
        """Add `subscriber` (once: connecting it again changes nothing)."""
        if subscriber not in self._subscribers:
            self._subscribers.append(subscriber)

    async def fire(self, session: AsyncSession, event: E) -> None:
        if not self._subscribers:
            raise NotConnected(
                f"hook {self.name!r} has no subscriber: call prorata.wiring.connect()"
            )
        for subscriber in self._subscribers:
            await subscriber(session, event)
