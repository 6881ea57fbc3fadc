"""Webhooks: registration (secret shown once), signed deliveries run by the worker against a
real receiver on loopback, retries with backoff, loopback refused, no redirects followed."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

from httpx import AsyncClient

from prorata.http.tenancy import Role
from prorata.orgs.service import NewOrg
from tests.fund_support import FundApi
from tests.servers import Receiver, worker
from tests.support import TestDatabase, bearer, eventually
from tests.webhook_support import register_webhook

LOOPBACK_OK = {"PRORATA_WEBHOOK_ALLOW_LOOPBACK": "true"}


async def _issue_a_call(client: AsyncClient, api_key: str) -> str:
    api = FundApi(client, api_key)
    fund_id = await api.fund()
    await api.investors_with(fund_id, ["1000.00", "3000.00"])
    call = await api.draft(fund_id, [{"purpose": "management_fee", "amount": "40.00"}])
    await api.issue(fund_id, call["id"])
    return str(call["id"])


async def _deliveries(client: AsyncClient, api_key: str, webhook_id: str) -> list[Any]:
    response = await client.get(
        f"/api/v1/webhooks/{webhook_id}/deliveries", headers=bearer(api_key)
    )
    assert response.status_code == 200, response.text
    items: list[Any] = response.json()["items"]
    return items


def _verify(secret: str, header: str, body: bytes) -> None:
    """What a receiver does with `Prorata-Signature`."""
    parts = dict(item.split("=", 1) for item in header.split(","))
    assert abs(int(parts["t"]) - time.time()) < 300
    expected = hmac.new(secret.encode(), parts["t"].encode() + b"." + body, hashlib.sha256)
    assert hmac.compare_digest(parts["v1"], expected.hexdigest())


async def test_an_issued_call_reaches_a_registered_webhook_signed(
    client: AsyncClient, database: TestDatabase, org: NewOrg, tmp_path: Path
) -> None:
    with Receiver() as receiver:
        hook = await register_webhook(client, org.api_key, receiver.url, ["call.issued"])
        assert hook["secret"].startswith("whsec_")
        listed = (await client.get("/api/v1/webhooks", headers=bearer(org.api_key))).json()
        assert listed["items"][0]["id"] == hook["id"]
        assert "secret" not in listed["items"][0]  # shown once, at creation
        call_id = await _issue_a_call(client, org.api_key)
        [pending] = await _deliveries(client, org.api_key, hook["id"])
        assert (pending["status"], pending["event"], pending["attempts"]) == (
            "pending",
            "call.issued",
            0,
        )

        async def delivered() -> bool:
            rows = await _deliveries(client, org.api_key, hook["id"])
            return bool(rows[0]["status"] == "succeeded")

        with worker(database, log=tmp_path / "worker.log", **LOOPBACK_OK):
            await eventually(delivered, timeout=60, what="the delivery")
    [request] = receiver.requests
    assert request.path == "/hooks/prorata"
    assert request.headers["Prorata-Event"] == "call.issued"
    assert request.headers["Content-Type"] == "application/json"
    _verify(hook["secret"], request.headers["Prorata-Signature"], request.body)
    payload = json.loads(request.body)
    assert payload["type"] == "call.issued"
    assert payload["id"] == pending["id"] == request.headers["Prorata-Delivery"]
    assert payload["data"]["call_id"] == call_id
    assert payload["data"]["amount"] == "40.00"
    [done] = await _deliveries(client, org.api_key, hook["id"])
    assert (done["attempts"], done["response_status"]) == (1, 200)
    assert done["delivered_at"] is not None


async def test_a_failed_delivery_is_retried_with_backoff(
    client: AsyncClient, database: TestDatabase, org: NewOrg, tmp_path: Path
) -> None:
    with Receiver(statuses=[503, 200]) as receiver:
        hook = await register_webhook(client, org.api_key, receiver.url, ["call.issued"])
        await _issue_a_call(client, org.api_key)

        async def delivered() -> bool:
            rows = await _deliveries(client, org.api_key, hook["id"])
            return bool(rows[0]["status"] == "succeeded")

        with worker(database, log=tmp_path / "worker.log", **LOOPBACK_OK):
            await eventually(delivered, timeout=60, what="the retried delivery")
    first, second = receiver.requests
    assert first.body == second.body  # the same event, signed anew
    [row] = await _deliveries(client, org.api_key, hook["id"])
    assert (row["attempts"], row["response_status"], row["last_error"]) == (2, 200, None)


async def test_loopback_is_refused_unless_allowed_and_nothing_is_sent(
    client: AsyncClient, database: TestDatabase, org: NewOrg, tmp_path: Path
) -> None:
    with Receiver() as receiver:
        hook = await register_webhook(client, org.api_key, receiver.url, ["call.issued"])
        await _issue_a_call(client, org.api_key)

        async def refused() -> bool:
            rows = await _deliveries(client, org.api_key, hook["id"])
            return bool(rows[0]["status"] == "failed")

        with worker(database, log=tmp_path / "worker.log"):
            await eventually(refused, timeout=60, what="the refusal")
    assert receiver.requests == []
    [row] = await _deliveries(client, org.api_key, hook["id"])
    assert row["attempts"] == 1  # refused at once: waiting would not make it public
    assert "loopback" in row["last_error"]


async def test_an_admin_sends_a_failed_delivery_again(
    client: AsyncClient,
    database: TestDatabase,
    org: NewOrg,
    other_org: NewOrg,
    role_keys: dict[Role, str],
    tmp_path: Path,
) -> None:
    """Refused while loopback was not allowed (failed, final); once it is, the admin's retry
    sends the same event, signed, and the delivery records both attempts."""
    with Receiver() as receiver:
        hook = await register_webhook(client, org.api_key, receiver.url, ["call.issued"])
        await _issue_a_call(client, org.api_key)

        async def status_is(wanted: str) -> bool:
            rows = await _deliveries(client, org.api_key, hook["id"])
            return bool(rows[0]["status"] == wanted)

        with worker(database, log=tmp_path / "refusing.log"):
            await eventually(lambda: status_is("failed"), timeout=60, what="the refusal")
        [failed] = await _deliveries(client, org.api_key, hook["id"])
        retry = f"/api/v1/webhooks/{hook['id']}/deliveries/{failed['id']}/retry"
        for key, status in ((role_keys[Role.manager], 403), (other_org.api_key, 404)):
            assert (await client.post(retry, headers=bearer(key))).status_code == status
        unknown = f"/api/v1/webhooks/{hook['id']}/deliveries/{hook['id']}/retry"
        assert (await client.post(unknown, headers=bearer(org.api_key))).status_code == 404

        response = await client.post(retry, headers=bearer(org.api_key))
        assert response.status_code == 202, response.text
        assert (response.json()["status"], response.json()["attempts"]) == ("pending", 1)
        with worker(database, log=tmp_path / "delivering.log", **LOOPBACK_OK):
            await eventually(lambda: status_is("succeeded"), timeout=60, what="the redelivery")
        again = await client.post(retry, headers=bearer(org.api_key))
        assert again.status_code == 409
        assert again.headers["content-type"] == "application/problem+json"
    [request] = receiver.requests
    _verify(hook["secret"], request.headers["Prorata-Signature"], request.body)
    assert json.loads(request.body)["id"] == failed["id"]
    [done] = await _deliveries(client, org.api_key, hook["id"])
    assert (done["attempts"], done["response_status"], done["last_error"]) == (2, 200, None)


async def test_redirects_are_not_followed(
    client: AsyncClient, database: TestDatabase, org: NewOrg, tmp_path: Path
) -> None:
    with Receiver() as target, Receiver(statuses=[302], location=target.url) as receiver:
        hook = await register_webhook(client, org.api_key, receiver.url, ["call.issued"])
        await _issue_a_call(client, org.api_key)

        async def attempted() -> bool:
            rows = await _deliveries(client, org.api_key, hook["id"])
            return bool(rows[0]["attempts"] >= 1)

        with worker(database, log=tmp_path / "worker.log", **LOOPBACK_OK):
            await eventually(attempted, timeout=60, what="the first attempt")
    assert len(receiver.requests) >= 1
    assert target.requests == []
    row = (await _deliveries(client, org.api_key, hook["id"]))[0]
    assert row["response_status"] == 302
    assert row["status"] in {"pending", "failed"}
    assert "302" in row["last_error"]
