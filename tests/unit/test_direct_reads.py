"""`http.direct`: which routes a plan takes, and what it does with a request — the same
arguments FastAPI would pass, or none at all (None: FastAPI answers)."""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

from fastapi import Depends, Header, Query, Request
from fastapi.routing import APIRoute
from pydantic import BaseModel

from prorata.http.direct import DirectRead


class Item(BaseModel):
    id: uuid.UUID
    limit: int
    kind: str | None
    calls: int


calls: list[str] = []


async def counted(request: Request) -> str:
    calls.append(request.url.path)
    return "session"


async def limited(limit: Annotated[int, Query(ge=1, le=10)] = 5) -> int:
    return limit


async def endpoint(
    item_id: uuid.UUID,
    first: Annotated[str, Depends(counted)],
    second: Annotated[str, Depends(counted)],
    limit: Annotated[int, Depends(limited)],
    kind: Annotated[str | None, Query(max_length=3)] = None,
) -> Item:
    assert first == second == "session"
    return Item(id=item_id, limit=limit, kind=kind, calls=len(calls))


def _request(query: str, item_id: str) -> Request:
    return Request(
        {
            "type": "http",
            "method": "GET",
            "path": f"/items/{item_id}",
            "path_params": {"item_id": item_id},
            "query_string": query.encode(),
            "headers": [],
        }
    )


def _plan(path: str, call: Any) -> DirectRead | None:
    return DirectRead.of(APIRoute(path, call, methods=["GET"]))


async def test_a_plan_passes_what_fastapi_would() -> None:
    plan = _plan("/items/{item_id}", endpoint)
    assert plan is not None
    calls.clear()
    item_id = str(uuid.uuid4())
    response = await plan.respond(_request("limit=7&kind=abc", item_id))
    assert response is not None
    assert response.status_code == 200
    assert response.media_type == "application/json"
    # The dependency both parameters ask for runs once, as FastAPI caches it per request.
    assert json.loads(bytes(response.body)) == {
        "id": item_id,
        "limit": 7,
        "kind": "abc",
        "calls": 1,
    }
    defaults = await plan.respond(_request("", item_id))
    assert defaults is not None
    assert json.loads(bytes(defaults.body))["limit"] == 5
    assert json.loads(bytes(defaults.body))["kind"] is None


async def test_a_value_its_field_refuses_is_left_to_fastapi() -> None:
    plan = _plan("/items/{item_id}", endpoint)
    assert plan is not None
    calls.clear()
    item_id = str(uuid.uuid4())
    for query, path_id in [
        ("limit=0", item_id),
        ("limit=ten", item_id),
        ("kind=abcd", item_id),
        ("", "not-a-uuid"),
    ]:
        assert await plan.respond(_request(query, path_id)) is None, query
    assert calls == []  # refused before any dependency ran


async def _with_header(x_token: Annotated[str, Header()]) -> dict[str, str]:
    return {"token": x_token}


async def _with_many(kind: Annotated[list[str], Query()]) -> dict[str, list[str]]:
    return {"kind": kind}


async def _needs_token(x_token: Annotated[str, Header()]) -> str:
    return x_token


async def _with_deep(token: Annotated[str, Depends(_needs_token)]) -> dict[str, str]:
    return {"token": token}


async def _generated() -> Any:
    yield "resource"


async def _with_generator(resource: Annotated[str, Depends(_generated)]) -> dict[str, str]:
    return {"resource": resource}


def _synchronous() -> dict[str, str]:
    return {}


async def test_routes_of_other_kinds_keep_fastapis_handler() -> None:
    for call in [_with_header, _with_many, _with_deep, _with_generator, _synchronous]:
        assert _plan("/other", call) is None, call.__name__
    # A route that is not answered as JSON of its model (`response_class`).
    from fastapi.responses import PlainTextResponse

    route = APIRoute("/text", _synchronous, methods=["GET"], response_class=PlainTextResponse)
    assert DirectRead.of(route) is None
