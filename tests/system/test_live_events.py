"""Live events over SSE: one fund of one organisation per stream, fed by LISTEN/NOTIFY."""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from pathlib import Path

import httpx
import sqlalchemy as sa
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prorata.live.router import REPLAY_LIMIT
from prorata.orgs.service import NewOrg
from prorata.platform import db, events
from tests.fund_support import FundApi
from tests.servers import web
from tests.support import (
    TestDatabase,
    bearer,
    free_port,
    process_env,
    prorata_process,
    scrape,
    sse_frames,
    stop,
    wait_until,
)


async def _publish(
    sessions: async_sessionmaker[AsyncSession], org_id: uuid.UUID, fund_id: str, marker: str
) -> None:
    async with db.tenant_transaction(sessions, org_id) as session:
        await events.publish(
            session,
            org_id=org_id,
            fund_id=uuid.UUID(fund_id),
            kind=events.Progress.job_progress,  # any kind: the marker is in the data
            data={"marker": marker},
        )


async def test_a_stream_carries_its_funds_events_and_no_one_elses(
    database: TestDatabase,
    sessions: async_sessionmaker[AsyncSession],
    org: NewOrg,
    other_org: NewOrg,
    tmp_path: Path,
) -> None:
    with web(database, tmp_path / "web.log") as base:
        async with AsyncClient(base_url=base, timeout=30) as client:
            mine = FundApi(client, org.api_key)
            fund, sibling = await mine.fund(), await mine.fund()
            [investor] = await mine.investors_with(fund, ["1000.00"])
            theirs = await FundApi(client, other_org.api_key).fund()
            stream = client.stream(
                "GET", f"/api/v1/funds/{fund}/events", headers=bearer(org.api_key)
            )
            async with stream as response:
                assert response.status_code == 200
                assert response.headers["content-type"].startswith("text/event-stream")
                lines = response.aiter_lines()
                assert await anext(lines) == "retry: 3000"  # subscribed from here on
                await _publish(sessions, org.org_id, sibling, "sibling fund")
                await _publish(sessions, other_org.org_id, theirs, "other org")
                await _publish(sessions, other_org.org_id, fund, "other org, our fund id")
                await _publish(sessions, org.org_id, fund, "ours")
                call = await mine.draft(fund, [{"purpose": "management_fee", "amount": "5.00"}])
                await mine.issue(fund, call["id"])
                received = []
                async with asyncio.timeout(20):
                    async for frame in sse_frames(lines):
                        received.append(frame)
                        if frame["kind"] == "call.issued":
                            break
    assert [frame["kind"] for frame in received] == ["job.progress", "call.issued"]
    assert received[0]["data"] == {"marker": "ours"}
    assert received[1]["data"]["call_id"] == call["id"]
    assert received[1]["data"]["amount"] == "5.00"
    assert investor


async def test_a_stream_ends_after_its_lifetime_and_frees_its_slot(
    database: TestDatabase, org: NewOrg, tmp_path: Path
) -> None:
    env = {"PRORATA_EVENTS_STREAM_SECONDS": "4", "PRORATA_EVENTS_MAX_STREAMS": "1"}
    with web(database, tmp_path / "web.log", **env) as base:
        async with AsyncClient(base_url=base, timeout=30) as client:
            fund = await FundApi(client, org.api_key).fund()
            path = f"/api/v1/funds/{fund}/events"
            async with client.stream("GET", path, headers=bearer(org.api_key)) as first:
                # One iterator for the whole stream: an abandoned one closes the connection.
                lines = first.aiter_lines()
                assert await anext(lines) == "retry: 3000"
                busy = await client.get(path, headers=bearer(org.api_key))
                assert busy.status_code == 503  # one stream per process in this configuration
                assert busy.headers["retry-after"] == "5"
                async with asyncio.timeout(15):
                    rest = [line async for line in lines]
            assert not [line for line in rest if line.startswith(("event:", "data:"))]
            async with asyncio.timeout(10):
                again = await client.get(path, headers=bearer(org.api_key))
            assert again.status_code == 200  # the first stream ended and released its slot
            assert again.text.startswith("retry: 3000")


async def test_one_organisation_cannot_take_every_stream_slot(
    database: TestDatabase, org: NewOrg, other_org: NewOrg, tmp_path: Path
) -> None:
    env = {"PRORATA_EVENTS_MAX_STREAMS": "3", "PRORATA_EVENTS_MAX_STREAMS_PER_ORG": "1"}
    with web(database, tmp_path / "web.log", **env) as base:
        async with AsyncClient(base_url=base, timeout=30) as client:
            mine = await FundApi(client, org.api_key).fund()
            theirs = await FundApi(client, other_org.api_key).fund()
            path = f"/api/v1/funds/{mine}/events"
            async with client.stream("GET", path, headers=bearer(org.api_key)) as first:
                # Kept: an abandoned iterator closes the connection, which frees the slot.
                first_lines = first.aiter_lines()
                assert await anext(first_lines) == "retry: 3000"
                async with asyncio.timeout(10):  # a stream (the bug) would last minutes
                    second = await client.get(path, headers=bearer(org.api_key))
                assert second.status_code == 503
                assert second.headers["retry-after"] == "5"
                assert "organisation" in second.json()["detail"]
                other_path = f"/api/v1/funds/{theirs}/events"
                headers = bearer(other_org.api_key)
                async with client.stream("GET", other_path, headers=headers) as other:
                    assert other.status_code == 200  # the other organisation is not starved
                    assert await anext(other.aiter_lines()) == "retry: 3000"


async def test_a_streams_lifetime_is_not_counted_as_request_latency(
    database: TestDatabase, org: NewOrg, tmp_path: Path
) -> None:
    """A stream is open for minutes by design: the request histogram (and so the p99 latency
    alert of docs/observability.md) must see the time it took to open it, not its lifetime."""
    metrics_port = free_port()
    env = {"PRORATA_EVENTS_STREAM_SECONDS": "3", "PRORATA_METRICS_PORT": str(metrics_port)}
    with web(database, tmp_path / "web.log", **env) as base:
        async with AsyncClient(base_url=base, timeout=30) as client:
            fund = await FundApi(client, org.api_key).fund()
            path = f"/api/v1/funds/{fund}/events"
            async with (
                asyncio.timeout(15),
                client.stream("GET", path, headers=bearer(org.api_key)) as response,
            ):
                assert response.status_code == 200
                lines = [line async for line in response.aiter_lines()]  # to its end (3 s)
            assert lines[0] == "retry: 3000"
        samples = [
            sample
            for sample in scrape(f"http://127.0.0.1:{metrics_port}/metrics")
            if sample.name.startswith("http_server_request_duration_seconds")
            and sample.labels.get("http_route") == "/api/v1/funds/{fund_id}/events"
        ]
    count = {s.name: s.value for s in samples if not s.name.endswith("_bucket")}
    assert count["http_server_request_duration_seconds_count"] == 1
    assert count["http_server_request_duration_seconds_sum"] < 1.5


async def test_a_stream_ends_cleanly_and_at_once_when_the_server_stops(
    database: TestDatabase, org: NewOrg, tmp_path: Path
) -> None:
    """On SIGTERM the open streams end like a lifetime does (a complete response, so the
    client reconnects to another server), instead of holding the shutdown for its grace
    period and then being cut mid-response."""
    port = free_port()
    env = process_env(PRORATA_APP_DATABASE_URL=database.app_url, PRORATA_PORT=str(port))
    process = prorata_process("web", env=env, output=tmp_path / "web.log")
    base = f"http://127.0.0.1:{port}"
    try:
        async with AsyncClient(base_url=base, timeout=30) as client:
            wait_until(lambda: _listening(base), timeout=60, what="the web process")
            fund = await FundApi(client, org.api_key).fund()
            path = f"/api/v1/funds/{fund}/events"
            async with client.stream("GET", path, headers=bearer(org.api_key)) as response:
                lines = response.aiter_lines()
                assert await anext(lines) == "retry: 3000"
                process.send_signal(signal.SIGTERM)
                asked = time.monotonic()
                async with asyncio.timeout(8):  # the grace period is 10 s
                    rest = [line async for line in lines]  # a cut response raises here
            assert not [line for line in rest if line.startswith(("event:", "data:"))]
        await asyncio.to_thread(process.wait, 8)
        assert time.monotonic() - asked < 8  # exited: uvicorn re-raises the SIGTERM it handled
    finally:
        stop(process)


def _listening(base: str) -> bool:
    try:
        return httpx.get(f"{base}/api/system/health", timeout=1).is_success
    except httpx.HTTPError:
        return False


async def test_streams_opened_together_on_a_fresh_server_respect_the_limit(
    database: TestDatabase, org: NewOrg, tmp_path: Path
) -> None:
    """The first streams wait together for the database listener: the limit must still hold
    when they are let in."""
    env = {"PRORATA_EVENTS_MAX_STREAMS": "1", "PRORATA_EVENTS_STREAM_SECONDS": "5"}
    with web(database, tmp_path / "web.log", **env) as base:
        async with AsyncClient(base_url=base, timeout=30) as client:
            fund = await FundApi(client, org.api_key).fund()
            path = f"/api/v1/funds/{fund}/events"

            answered = asyncio.Barrier(4)

            async def status() -> int:
                async with client.stream("GET", path, headers=bearer(org.api_key)) as response:
                    await answered.wait()  # every stream held open until all are answered
                    return response.status_code

            statuses = await asyncio.gather(*(status() for _ in range(4)))
    assert sorted(statuses) == [200, 503, 503, 503]


async def test_a_reconnecting_client_gets_what_it_missed_then_live_events(
    database: TestDatabase, sessions: async_sessionmaker[AsyncSession], org: NewOrg, tmp_path: Path
) -> None:
    with web(database, tmp_path / "web.log") as base:
        async with AsyncClient(base_url=base, timeout=30) as client:
            fund = await FundApi(client, org.api_key).fund()
            path = f"/api/v1/funds/{fund}/events"
            async with client.stream("GET", path, headers=bearer(org.api_key)) as response:
                lines = response.aiter_lines()
                assert await anext(lines) == "retry: 3000"
                await _publish(sessions, org.org_id, fund, "one")
                await _publish(sessions, org.org_id, fund, "two")
                seen = await anext(sse_frames(lines))
            # The client is gone; two more events happen meanwhile.
            await _publish(sessions, org.org_id, fund, "three")
            await _publish(sessions, org.org_id, fund, "four")
            headers = {**bearer(org.api_key), "Last-Event-ID": str(seen["id"])}
            received = []
            async with client.stream("GET", path, headers=headers) as response:
                frames = sse_frames(response.aiter_lines())
                async with asyncio.timeout(20):
                    for _ in range(3):
                        received.append(await anext(frames))
                    await _publish(sessions, org.org_id, fund, "five")
                    received.append(await anext(frames))
    assert seen["data"] == {"marker": "one"}
    assert [frame["data"]["marker"] for frame in received] == ["two", "three", "four", "five"]
    numbers = [seen["id"], *(frame["id"] for frame in received)]
    assert numbers == list(range(numbers[0], numbers[0] + 5))  # numbered in order, no gap


async def _last_number(
    sessions: async_sessionmaker[AsyncSession], org_id: uuid.UUID, fund_id: str
) -> int:
    async with db.tenant_transaction(sessions, org_id) as session:
        return await events.last_number(session, fund_id=uuid.UUID(fund_id))


async def test_a_page_opens_its_stream_after_the_last_event_its_data_includes(
    database: TestDatabase, sessions: async_sessionmaker[AsyncSession], org: NewOrg, tmp_path: Path
) -> None:
    """`?after=` on a first connection (EventSource sets no header): the events committed
    since come first, so none is lost between a page's render and its stream; a reconnecting
    client's `Last-Event-ID` wins over it."""
    with web(database, tmp_path / "web.log") as base:
        async with AsyncClient(base_url=base, timeout=30) as client:
            fund = await FundApi(client, org.api_key).fund()
            path = f"/api/v1/funds/{fund}/events"
            assert await _last_number(sessions, org.org_id, fund) == 0  # none yet
            await _publish(sessions, org.org_id, fund, "one")
            rendered = await _last_number(sessions, org.org_id, fund)  # a page shows "one"
            await _publish(sessions, org.org_id, fund, "two")  # while the page loads
            received = []
            params = {"after": str(rendered)}
            async with client.stream("GET", path, params=params, headers=bearer(org.api_key)) as r:
                frames = sse_frames(r.aiter_lines())
                async with asyncio.timeout(20):
                    received.append(await anext(frames))
                    await _publish(sessions, org.org_id, fund, "three")
                    received.append(await anext(frames))
            headers = {**bearer(org.api_key), "Last-Event-ID": str(received[0]["id"])}
            params = {"after": "0"}
            async with client.stream("GET", path, params=params, headers=headers) as r:
                async with asyncio.timeout(20):
                    reconnected = await anext(sse_frames(r.aiter_lines()))
            refused = await client.get(path, params={"after": "-1"}, headers=bearer(org.api_key))
    assert [frame["data"]["marker"] for frame in received] == ["two", "three"]
    assert received[0]["id"] == rendered + 1
    assert reconnected["data"] == {"marker": "three"}
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"


async def test_a_position_is_ascii_digits_and_a_long_replay_ends_for_the_next(
    database: TestDatabase, sessions: async_sessionmaker[AsyncSession], org: NewOrg, tmp_path: Path
) -> None:
    """`Last-Event-ID: ²` is no position (it was a 500 that kept the stream's slot: enough of
    them shut the organisation's live pages out); `?after=5_0` is refused. A replay of
    `REPLAY_LIMIT` events ends the stream, so the client reconnects from its last one rather
    than jump to live events past a gap."""
    with web(database, tmp_path / "web.log") as base:
        async with AsyncClient(base_url=base, timeout=30) as client:
            fund = await FundApi(client, org.api_key).fund()
            path = f"/api/v1/funds/{fund}/events"
            for value in ("²", "1¹"):  # as curl sends them: bytes, read as Latin-1
                raw = [(k.encode(), v.encode()) for k, v in bearer(org.api_key).items()]
                raw.append((b"Last-Event-ID", value.encode("latin-1")))
                async with client.stream("GET", path, headers=raw) as response:
                    assert response.status_code == 200
            for value in ("5_0", "+5", " 5", "1" * 19):
                params = {"after": value}
                refused = await client.get(path, params=params, headers=bearer(org.api_key))
                assert refused.status_code == 422, value
            async with db.tenant_transaction(sessions, org.org_id) as session:
                await session.execute(
                    sa.text(
                        "INSERT INTO fund_events (org_id, fund_id, kind, data)"
                        " SELECT :org, :fund, 'job.progress', jsonb_build_object('n', n)"
                        " FROM generate_series(1, :count) AS n"
                    ),
                    {"org": org.org_id, "fund": uuid.UUID(fund), "count": REPLAY_LIMIT + 1},
                )
            params = {"after": "0"}
            async with client.stream("GET", path, params=params, headers=bearer(org.api_key)) as r:
                async with asyncio.timeout(20):
                    first = [frame async for frame in sse_frames(r.aiter_lines())]
            headers = {**bearer(org.api_key), "Last-Event-ID": str(first[-1]["id"])}
            async with client.stream("GET", path, headers=headers) as r:
                async with asyncio.timeout(20):
                    rest = await anext(sse_frames(r.aiter_lines()))
    assert [frame["data"]["n"] for frame in first] == list(range(1, REPLAY_LIMIT + 1))
    assert rest["data"]["n"] == REPLAY_LIMIT + 1
