"""The web process's side of live events: ONE `LISTEN` connection, fanned out to subscribers.

A fund's event is NOTIFYed on one channel with `{org_id, fund_id, kind, data, id}` as its
transaction commits (`events.publish`, migration 0014). The hub parses
each notification and hands it to the subscribers of exactly that (org, fund) — never to
another fund's or organisation's — through a bounded queue each. A subscriber that falls
behind, and every subscriber when the LISTEN connection is lost, is closed: its client
reconnects (EventSource does so by itself) and knows it may have missed events, rather than
silently getting a stream with holes.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import uuid
from collections import defaultdict
from typing import Any

import psycopg

from prorata.platform import errors, events

log = logging.getLogger(__name__)

QUEUE_SIZE = 256
READY_TIMEOUT = 10.0
PING_SECONDS = 30.0


@dataclasses.dataclass(frozen=True)
class Event:
    kind: str
    data: dict[str, Any]
    id: int  # the fund's event number, in commit order (the SSE `id:`)


class Subscription:
    def __init__(self, hub: Hub, key: tuple[uuid.UUID, uuid.UUID]) -> None:
        self.hub = hub
        self.key = key
        self.queue: asyncio.Queue[Event | None] = asyncio.Queue(QUEUE_SIZE)
        self.closed = False

    def offer(self, event: Event) -> None:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            log.warning("live event subscriber fell behind; closing its stream")
            self.end()

    def end(self) -> None:
        """Stop the stream: whatever is queued is dropped, the consumer sees the end marker."""
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(None)
        self.close()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.hub.remove(self)


class Hub:
    def __init__(self, url: str, *, max_streams: int, max_org_streams: int) -> None:
        self._url = url
        self._max_streams = max_streams
        self._max_org_streams = max_org_streams
        self._subscribers: dict[tuple[uuid.UUID, uuid.UUID], set[Subscription]] = defaultdict(set)
        self._count = 0
        self._org_counts: dict[uuid.UUID, int] = defaultdict(int)
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def streams(self) -> int:
        return self._count

    async def subscribe(self, *, org_id: uuid.UUID, fund_id: uuid.UUID) -> Subscription:
        """A subscription that receives every event published for (org, fund) from now on:
        it returns once LISTEN is active, so nothing committed after it is missed."""
        if self._closed:
            raise errors.ServiceUnavailable(
                "this server is shutting down", headers={"Retry-After": "1"}
            )
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._listen(), name="prorata-live-events")
        try:
            await asyncio.wait_for(self._ready.wait(), READY_TIMEOUT)
        except TimeoutError:
            raise errors.ServiceUnavailable(
                "live events are unavailable (no database listener)", headers={"Retry-After": "5"}
            ) from None
        # Counted after the wait, with no await until the slot is taken: callers that waited
        # together for the listener would otherwise all pass a check made before it.
        if self._count >= self._max_streams:
            raise errors.ServiceUnavailable(
                "too many live event streams on this server", headers={"Retry-After": "5"}
            )
        if self._org_counts[org_id] >= self._max_org_streams:
            raise errors.ServiceUnavailable(
                "too many live event streams for this organisation on this server",
                headers={"Retry-After": "5"},
            )
        subscription = Subscription(self, (org_id, fund_id))
        self._subscribers[subscription.key].add(subscription)
        self._count += 1
        self._org_counts[org_id] += 1
        return subscription

    def remove(self, subscription: Subscription) -> None:
        group = self._subscribers.get(subscription.key)
        if group is not None and subscription in group:
            group.discard(subscription)
            self._count -= 1
            org_id = subscription.key[0]
            self._org_counts[org_id] -= 1
            if not self._org_counts[org_id]:
                del self._org_counts[org_id]
            if not group:
                del self._subscribers[subscription.key]

    def dispatch(self, payload: str) -> None:
        try:
            message = json.loads(payload)
            key = (uuid.UUID(message["org_id"]), uuid.UUID(message["fund_id"]))
            event = Event(
                kind=str(message["kind"]), data=dict(message["data"]), id=int(message["id"])
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            return  # an org-wide event (no fund) or a malformed payload: no fund stream wants it
        for subscription in list(self._subscribers.get(key, ())):
            subscription.offer(event)

    async def _listen(self) -> None:
        backoff = 0.5
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._url, autocommit=True
                ) as conn:
                    await conn.execute(f"LISTEN {events.CHANNEL}")
                    self._ready.set()
                    backoff = 0.5
                    while True:
                        async for notification in conn.notifies(timeout=PING_SECONDS):
                            self.dispatch(notification.payload)
                        await conn.execute("SELECT 1")  # a dead connection raises here
            except psycopg.Error as exc:
                log.warning("live events listener lost its connection", extra={"error": str(exc)})
            self._ready.clear()
            self._end_all()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 30.0)

    def _end_all(self) -> None:
        for group in list(self._subscribers.values()):
            for subscription in list(group):
                subscription.end()

    async def close(self) -> None:
        """End every stream (each client gets a complete response and reconnects) and stop
        listening; later subscribers are refused."""
        self._closed = True
        self._end_all()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
