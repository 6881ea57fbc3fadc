"""The route index picks the route FastAPI's own router would pick, and leaves it the rest."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from fastapi.responses import PlainTextResponse
from starlette.routing import Mount

from prorata.app import create_app
from prorata.config import Settings
from prorata.http.route_index import IndexedApp, RouteIndex


def _routers() -> APIRouter:
    """Shapes that test the order and the wildcards: a literal beside a parameter at the same
    depth (declared before and after it), a parameter inside a segment, a converter, two
    routers under one prefix, methods on one path, a trailing slash."""
    funds = APIRouter()

    @funds.get("/funds/new")
    async def new_fund() -> str:
        return "new fund"

    @funds.get("/funds/{fund_id}")
    async def fund(fund_id: str) -> str:
        return f"fund {fund_id}"

    @funds.get("/funds/{fund_id}/report.{fmt}")
    async def report(fund_id: str, fmt: str) -> str:
        return f"report {fund_id} {fmt}"

    @funds.get("/funds/{fund_id}/latest")  # after `/funds/{fund_id}`: never shadowed by it
    async def latest(fund_id: str) -> str:
        return f"latest {fund_id}"

    @funds.post("/funds")
    async def create_fund() -> str:
        return "created"

    @funds.get("/investors/")
    async def investors() -> str:
        return "investors"

    deals = APIRouter()

    @deals.get("/funds/{fund_id}/deals/{deal_id:uuid}")
    async def deal(fund_id: str, deal_id: uuid.UUID) -> str:
        return f"deal {deal_id}"

    @deals.get("/funds/{fund_id}/new")  # shadowed by nothing: `/funds/new` is one segment less
    async def fund_new(fund_id: str) -> str:
        return f"fund new {fund_id}"

    api = APIRouter()
    api.include_router(funds)
    api.include_router(deals, prefix="/v2")
    api.include_router(deals)
    return api


def _app(cls: type[FastAPI]) -> FastAPI:
    app = cls()
    api = _routers()
    app.include_router(api, prefix="/api/v1")
    app.include_router(api, prefix="/api")

    @app.get("/files/{path:path}")
    async def files(path: str) -> str:
        return f"file {path}"

    async def mounted(scope: object, receive: object, send: object) -> None:
        await PlainTextResponse("mounted")(scope, receive, send)  # type: ignore[arg-type]

    app.router.routes.append(Mount("/static", app=mounted))
    return app


REQUESTS = [
    ("GET", "/api/v1/funds/new"),
    ("GET", "/api/v1/funds/abc"),
    ("GET", "/api/funds/abc/latest"),
    ("GET", "/api/v1/funds/abc/report.pdf"),
    ("GET", "/api/v1/funds/abc/report"),
    ("GET", f"/api/v1/funds/abc/deals/{uuid.UUID(int=7)}"),
    ("GET", "/api/v1/funds/abc/deals/not-a-uuid"),
    ("GET", f"/api/v1/v2/funds/x/deals/{uuid.UUID(int=8)}"),
    ("GET", "/api/v1/funds/x/new"),
    ("POST", "/api/v1/funds"),
    ("GET", "/api/v1/funds"),  # 405: a POST route only
    ("DELETE", "/api/v1/funds/abc"),  # 405
    ("GET", "/api/v1/investors"),  # redirect to the trailing slash
    ("GET", "/api/v1/investors/"),
    ("GET", "/files/a/b/c.txt"),
    ("GET", "/static/x.css"),
    ("GET", "/nothing/here"),
    ("GET", "/"),
    ("GET", "/api/v1/funds/abc/deals"),
]


@pytest.mark.parametrize(("method", "path"), REQUESTS)
async def test_answers_as_fastapi_does(method: str, path: str) -> None:
    answers = []
    for cls in (FastAPI, IndexedApp):
        transport = httpx.ASGITransport(app=_app(cls))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.request(method, path, follow_redirects=False)
        answers.append((response.status_code, response.text, response.headers.get("location")))
    assert answers[0] == answers[1]
    assert answers[0][0] != 500


def _sample(template: str) -> str:
    """A concrete path for a route template: each parameter filled with a UUID (a path
    parameter with two segments)."""
    filled = re.sub(r"\{[^}:]+:path\}", "a/b", template)
    return re.sub(r"\{[^}]+\}", str(uuid.UUID(int=1)), filled)


def test_every_route_of_the_app_is_a_candidate_of_its_own_paths() -> None:
    """The index never leaves out a route that could match: each route of Prorata's app is
    among the candidates of a path made from its template."""
    app = create_app(Settings(env="test"))
    index = RouteIndex(app.router)
    checked = 0
    for top in app.router.routes:
        contexts = getattr(top, "effective_route_contexts", None)
        for context in contexts() if contexts else []:
            template = context.path_format
            found = index.candidates(_sample(template))
            assert any(c.route is context.original_route for c in found), template
            checked += 1
    assert checked > 200  # the API under two prefixes, and the console
