"""More than one web process on one database: what a client sees must not depend on which
process answers it. Rate limits are counted in one Redis, and a live event caused through one
process reaches a stream held open by another (PostgreSQL NOTIFY reaches every listener)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from httpx import AsyncClient

from prorata.orgs.service import NewOrg
from tests.fund_support import FundApi
from tests.servers import redis_server, web
from tests.support import TestDatabase, bearer, sse_frames


async def test_two_web_processes_count_one_rate_limit_in_redis(
    database: TestDatabase, org: NewOrg, tmp_path: Path
) -> None:
    with redis_server(tmp_path / "redis") as url:
        env = {"PRORATA_RATE_LIMIT_STORAGE": url, "PRORATA_RATE_LIMIT_API": "4/minute"}
        with (
            web(database, tmp_path / "a.log", **env) as first,
            web(database, tmp_path / "b.log", **env) as second,
        ):
            answers = []
            for base in [first, second] * 3:  # every other request to the other process
                async with AsyncClient(base_url=base, timeout=30) as client:
                    answers.append(await client.get("/api/v1/me", headers=bearer(org.api_key)))
    assert [answer.status_code for answer in answers] == [200] * 4 + [429] * 2
    # One counter: each process saw what the other had counted.
    remaining = [answer.headers["ratelimit"] for answer in answers[:4]]
    assert [field.split(";")[1] for field in remaining] == ["r=3", "r=2", "r=1", "r=0"]
    assert answers[4].headers["retry-after"]


async def test_an_event_caused_through_one_process_reaches_a_stream_on_another(
    database: TestDatabase, org: NewOrg, tmp_path: Path
) -> None:
    with (
        web(database, tmp_path / "a.log") as streaming,
        web(database, tmp_path / "b.log") as writing,
    ):
        async with (
            AsyncClient(base_url=streaming, timeout=30) as watcher,
            AsyncClient(base_url=writing, timeout=30) as writer,
        ):
            api = FundApi(writer, org.api_key)
            fund = await api.fund()
            await api.investors_with(fund, ["1000.00"])
            path = f"/api/v1/funds/{fund}/events"
            async with watcher.stream("GET", path, headers=bearer(org.api_key)) as response:
                assert response.status_code == 200
                lines = response.aiter_lines()
                assert await anext(lines) == "retry: 3000"  # subscribed from here on
                call = await api.draft(fund, [{"purpose": "management_fee", "amount": "5.00"}])
                await api.issue(fund, call["id"])
                received = []
                async with asyncio.timeout(20):
                    async for frame in sse_frames(lines):
                        received.append(frame)
                        if frame["kind"] == "call.issued":
                            break
    assert [frame["kind"] for frame in received][-1] == "call.issued"
    assert received[-1]["data"]["call_id"] == call["id"]
    assert received[-1]["data"]["amount"] == "5.00"
