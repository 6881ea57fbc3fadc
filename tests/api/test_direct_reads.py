"""Reads answered by `http.direct` (their arguments solved without FastAPI's solver) answer
what FastAPI's own handler answers, byte for byte — pages, filters, cursors, single objects
— and every refusal is FastAPI's own."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from httpx import AsyncClient

from prorata.http import auth, direct
from prorata.orgs.service import NewOrg
from prorata.platform import errors
from tests.fund_support import FundApi


async def _fastapi_answers(*_: Any) -> None:
    return None


def _answered_directly(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths `DirectRead` answered itself from now on."""
    answered: list[str] = []
    respond = direct.DirectRead.respond

    async def recorded(self: direct.DirectRead, request: Any) -> Any:
        response = await respond(self, request)
        if response is not None:
            answered.append(request.url.path)
        return response

    monkeypatch.setattr(direct.DirectRead, "respond", recorded)
    return answered


async def _answers(
    client: AsyncClient, api: FundApi, paths: list[str]
) -> list[tuple[int, str | None, bytes]]:
    found = []
    for path in paths:
        response: httpx.Response = await client.get(f"/api/v1{path}", headers=api.headers)
        found.append((response.status_code, response.headers.get("content-type"), response.content))
    return found


def _without_request_ids(answers: list[tuple[int, str | None, bytes]]) -> list[Any]:
    """Problems carry the request's own id; the rest of them must be the same."""
    return [
        (status, kind, {k: v for k, v in json.loads(body).items() if k != "request_id"})
        for status, kind, body in answers
    ]


async def _a_fund_with_history(api: FundApi) -> tuple[str, list[str], str]:
    fund = await api.fund()
    investors = await api.investors_with(fund, ["1000.00", "2500000.50", "0.01"])
    deal = await api.deal(fund)
    await api.allocate(fund, deal, {investor: f"{n}1.25" for n, investor in enumerate(investors)})
    await api.call_and_pay(fund, [{"purpose": "management_fee", "amount": "1000.00"}])
    await api.distribute(fund, "100.00", "2026-06-30", kind="return_of_capital")
    return fund, investors, deal


async def test_direct_answers_equal_fastapis(
    client: AsyncClient, org: NewOrg, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = FundApi(client, org.api_key)
    fund, investors, deal = await _a_fund_with_history(api)
    first = await api.request("GET", f"/funds/{fund}/allocations?limit=1")
    paths = [
        f"/funds/{fund}/allocations",
        f"/funds/{fund}/allocations?limit=1&cursor={first['next_cursor']}",
        f"/funds/{fund}/allocations?deal_id={deal}&investor_id={investors[1]}",
        f"/allocations?fund_id={fund}&limit=2",
        f"/funds/{fund}/commitments?sort=amount",
        f"/funds/{fund}/capital-calls",
        f"/funds/{fund}/distributions",
        f"/funds/{fund}/deals",
        f"/funds/{fund}/activity?limit=3",
        "/jobs?status=succeeded",
        f"/documents?fund_id={fund}",
        "/investors?limit=2",
        "/funds",
        f"/funds/{fund}",
        f"/investors/{investors[0]}",
        f"/funds/{fund}/deals/{deal}",
    ]
    answered = _answered_directly(monkeypatch)
    directly = await _answers(client, api, paths)
    assert answered == [f"/api/v1{path.partition('?')[0]}" for path in paths]
    monkeypatch.setattr(direct.DirectRead, "respond", _fastapi_answers)
    by_fastapi = await _answers(client, api, paths)
    assert directly == by_fastapi
    assert all(status == 200 for status, _, _ in directly)
    assert b'"amount":"11.25"' in directly[0][2]


async def test_refusals_are_fastapis_own(
    client: AsyncClient, org: NewOrg, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each bad value leaves the request to FastAPI, which answers the 422 (or 400, 404) it
    always did; nothing is answered by the plan."""
    api = FundApi(client, org.api_key)
    fund = await api.fund()
    paths = [
        f"/funds/{fund}/allocations?limit=0",
        f"/funds/{fund}/allocations?limit=501",
        f"/funds/{fund}/allocations?limit=ten",
        f"/funds/{fund}/allocations?cursor=not%20base64",
        f"/funds/{fund}/allocations?deal_id=nope",
        f"/funds/{fund}/allocations?deal_id=",
        "/funds/not-a-uuid/allocations",
        f"/funds/{fund}/commitments?sort=sideways",
        "/jobs?status=dreaming",
        "/documents?as_of=yesterday",
    ]
    answered = _answered_directly(monkeypatch)
    directly = await _answers(client, api, paths)
    assert answered == []
    assert all(status == 422 for status, _, _ in directly), directly
    monkeypatch.setattr(direct.DirectRead, "respond", _fastapi_answers)
    by_fastapi = await _answers(client, api, paths)
    assert _without_request_ids(directly) == _without_request_ids(by_fastapi)
    # A well-formed request the service refuses is refused the same way, by the plan.
    missing = await _answers(client, api, [f"/funds/{uuid.uuid4()}/allocations"])
    assert missing[0][0] == 404


async def test_dependency_overrides_are_honoured(
    app: FastAPI, client: AsyncClient, org: NewOrg
) -> None:
    """Tests may override a dependency: FastAPI's handler then answers (the plan calls the
    dependencies it was built with)."""
    api = FundApi(client, org.api_key)

    async def refused() -> None:
        raise errors.Forbidden("overridden")

    app.dependency_overrides[auth.tenant_session] = refused
    try:
        response = await client.get("/api/v1/funds", headers=api.headers)
    finally:
        app.dependency_overrides.clear()
    assert response.status_code == 403
    assert response.json()["detail"] == "overridden"
    assert (await client.get("/api/v1/funds", headers=api.headers)).status_code == 200
