"""`GET /funds/{fund_id}/events`: Server-Sent Events of one fund of the caller's organisation."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from prorata.funds import service as fund_service
from prorata.http import problems
from prorata.http.auth import CurrentPrincipal, TenantSession
from prorata.http.routing import ApiRoute
from prorata.live.hub import Event, Hub, Subscription
from prorata.platform import events

router = APIRouter(route_class=ApiRoute, tags=["events"])

HEARTBEAT_SECONDS = 15.0
RECONNECT_MS = 3000


REPLAY_LIMIT = 1000
# An event's number as a client sends it back: ASCII digits (`str.isdigit` takes "²" too).
_EVENT_NUMBER = re.compile("^[0-9]{1,18}$")


def frame(event: Event) -> str:
    data = json.dumps(event.data, separators=(",", ":"), default=str)
    return f"id: {event.id}\nevent: {event.kind}\ndata: {data}\n\n"


def last_event_id(request: Request) -> int | None:
    """The number of the last event the client saw (`Last-Event-ID`, which EventSource sends
    when it reconnects); anything that is not a number is no position."""
    value = request.headers.get("last-event-id", "").strip()
    return int(value) if _EVENT_NUMBER.match(value) else None


class EventStreamResponse(StreamingResponse):
    """An SSE stream of one subscription, ended after `lifetime` seconds (the client
    reconnects; connections recycle across deploys and load balancers). The subscription is
    released however the response ends, even when the client is gone before the first byte."""

    def __init__(self, subscription: Subscription, *, lifetime: float, missed: list[Event]) -> None:
        self.subscription = subscription
        self.lifetime = lifetime
        self.missed = missed
        super().__init__(
            self._frames(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.subscription.close()

    async def _frames(self) -> AsyncIterator[str]:
        yield f"retry: {RECONNECT_MS}\n: connected\n\n"
        seen = 0
        for missed in self.missed:
            seen = missed.id
            yield frame(missed)
        deadline = time.monotonic() + self.lifetime
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                async with asyncio.timeout(min(HEARTBEAT_SECONDS, remaining)):
                    event = await self.subscription.queue.get()
            except TimeoutError:
                yield ": keepalive\n\n"
                continue
            if event is None:
                return
            if event.id > seen:  # not already replayed
                yield frame(event)


@router.get(
    "/funds/{fund_id}/events",
    summary="Live events of a fund (Server-Sent Events)",
    description="Job progress, import results, documents ready and calls issued, as "
    "`text/event-stream`: `id: <n>`, `event: <kind>` and `data: <JSON>`, numbered per fund in "
    "the order they happened. The stream ends after a while (or when the server must shed it); "
    "reconnect, as EventSource does, with `Last-Event-ID`: the events since, kept ten minutes, "
    "come first, then live ones. A first connection may name its position with `?after=<n>` "
    "instead (a console page passes the number of the last event its data includes).",
    response_class=EventStreamResponse,
    status_code=200,
    responses={
        200: {
            "description": "An event stream",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        **problems.documented(503),
    },
)
async def fund_events(
    fund_id: uuid.UUID,
    request: Request,
    principal: CurrentPrincipal,
    session: TenantSession,
    after: Annotated[
        str | None,
        Query(
            pattern=_EVENT_NUMBER.pattern,
            max_length=18,
            description="On a first connection, the number of the last event the client "
            "already knows of: the kept events after it come first. `Last-Event-ID` wins.",
        ),
    ] = None,
) -> EventStreamResponse:
    await fund_service.get(session, fund_id=fund_id)
    seen = last_event_id(request)
    position = int(after) if seen is None and after is not None else seen
    hub: Hub = request.app.state.hub
    lifetime = request.app.state.settings.events_stream_seconds
    # Subscribed first, then the kept events read: an event committed in between is in both,
    # and the stream skips the live copy (by number).
    subscription = await hub.subscribe(org_id=principal.org_id, fund_id=fund_id)
    missed: list[Event] = []
    if position is not None:
        try:
            kept = await events.replay(session, fund_id=fund_id, after=position, limit=REPLAY_LIMIT)
        except BaseException:
            subscription.close()
            raise
        missed = [Event(kind=e.kind, data=e.data, id=e.seq or 0) for e in kept]
        if len(kept) == REPLAY_LIMIT:
            # Perhaps more kept: the stream ends after these, and the client reconnects from
            # the last of them (live events now would leave a gap after it).
            lifetime = 0
    return EventStreamResponse(subscription, lifetime=lifetime, missed=missed)
