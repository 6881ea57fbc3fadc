"""`GET /funds/{fund_id}/events`: Server-Sent Events of one fund of the caller's organisation."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from prorata.funds import service as fund_service
from prorata.http import problems
from prorata.http.auth import CurrentPrincipal, TenantSession
from prorata.http.routing import ApiRoute
from prorata.live.hub import Hub, Subscription

router = APIRouter(route_class=ApiRoute, tags=["events"])

HEARTBEAT_SECONDS = 15.0
RECONNECT_MS = 3000


def frame(kind: str, data: dict[str, object]) -> str:
    return f"event: {kind}\ndata: {json.dumps(data, separators=(',', ':'), default=str)}\n\n"


class EventStreamResponse(StreamingResponse):
    """An SSE stream of one subscription, ended after `lifetime` seconds (the client
    reconnects; connections recycle across deploys and load balancers). The subscription is
    released however the response ends, even when the client is gone before the first byte."""

    def __init__(self, subscription: Subscription, *, lifetime: float) -> None:
        self.subscription = subscription
        self.lifetime = lifetime
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
            yield frame(event.kind, event.data)


@router.get(
    "/funds/{fund_id}/events",
    summary="Live events of a fund (Server-Sent Events)",
    description="Job progress, import results, documents ready and calls issued, as "
    "`text/event-stream`: `event: <kind>` and `data: <JSON>`. The stream ends after a while "
    "(or when the server must shed it); reconnect, as EventSource does. Events are not replayed.",
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
    fund_id: uuid.UUID, request: Request, principal: CurrentPrincipal, session: TenantSession
) -> EventStreamResponse:
    await fund_service.get(session, fund_id=fund_id)
    hub: Hub = request.app.state.hub
    subscription = await hub.subscribe(org_id=principal.org_id, fund_id=fund_id)
    return EventStreamResponse(
        subscription, lifetime=request.app.state.settings.events_stream_seconds
    )
