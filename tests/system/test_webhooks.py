"""Webhooks: registration (secret shown once), signed deliveries run by the worker against a
real receiver on loopback, retries with backoff, SSRF refusals, no redirects followed."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import time
from pathlib import Path
from typing import Any

import pytest
from httpx import AsyncClient

from prorata.orgs.models import Role
from prorata.orgs.service import NewOrg
from prorata.webhooks import delivery
from tests.fund_support import FundApi
from tests.servers import Receiver, worker
from tests.support import TestDatabase, bearer, eventually

LOOPBACK_OK = {"PRORATA_WEBHOOK_ALLOW_LOOPBACK": "true"}


async def _register(client: AsyncClient, api_key: str, url: str, events: list[str]) -> Any:
    response = await client.post(
        "/api/v1/webhooks", json={"url": url, "events": events}, headers=bearer(api_key)
    )
    assert response.status_code == 201, response.text
    return response.json()


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
        hook = await _register(client, org.api_key, receiver.url, ["call.issued"])
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
        hook = await _register(client, org.api_key, receiver.url, ["call.issued"])
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
        hook = await _register(client, org.api_key, receiver.url, ["call.issued"])
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
        hook = await _register(client, org.api_key, receiver.url, ["call.issued"])
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
        hook = await _register(client, org.api_key, receiver.url, ["call.issued"])
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


async def test_webhooks_need_an_admin_and_other_orgs_cannot_see_them(
    client: AsyncClient, org: NewOrg, other_org: NewOrg, role_keys: dict[Role, str]
) -> None:
    url, events = "https://hooks.example.com/prorata", ["report.ready"]
    body = {"url": url, "events": events}
    refused = await client.post(
        "/api/v1/webhooks", json=body, headers=bearer(role_keys[Role.manager])
    )
    assert refused.status_code == 403
    hook = await _register(client, role_keys[Role.admin], url, events)
    theirs = await client.get("/api/v1/webhooks", headers=bearer(other_org.api_key))
    assert theirs.json()["items"] == []
    for method, path in (
        ("DELETE", f"/api/v1/webhooks/{hook['id']}"),
        ("GET", f"/api/v1/webhooks/{hook['id']}/deliveries"),
    ):
        response = await client.request(method, path, headers=bearer(other_org.api_key))
        assert response.status_code == 404
    deleted = await client.delete(f"/api/v1/webhooks/{hook['id']}", headers=bearer(org.api_key))
    assert deleted.status_code == 204
    assert (await client.get("/api/v1/webhooks", headers=bearer(org.api_key))).json()["items"] == []


@pytest.mark.parametrize(
    "url",
    [
        "ftp://hooks.example.com/x",
        "https://user:pass@hooks.example.com/x",
        "https://hooks.example.com/a b",
        "http:///nohost",
        "https://hooks.example.com:99999/x",  # out of range: the resolver would wrap it
        "https://hooks.example.com:65536/x",
        "https://hooks.example.com:0/x",
        "https://hooks..example.com/x",  # an empty label: the resolver's IDNA step would raise
        "https://" + "a" * 64 + ".example.com/x",  # a label over 63 characters
    ],
)
async def test_bad_urls_are_refused_at_registration(
    client: AsyncClient, org: NewOrg, url: str
) -> None:
    response = await client.post(
        "/api/v1/webhooks",
        json={"url": url, "events": ["call.issued"]},
        headers=bearer(org.api_key),
    )
    assert response.status_code == 422


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fd12::1", "private"),
        ("fec0::1", "private"),  # site-local: deprecated, still private where used
        ("169.254.169.254", "metadata"),
        ("fd00:ec2::254", "metadata"),
        ("100.100.100.200", "metadata"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("0.0.0.0", "private"),  # "this network"
        ("100.64.0.1", "not a public"),
        ("224.0.0.1", "not a public"),
        ("2002:7f00:1::", "loopback"),  # 6to4 around 127.0.0.1
        ("64:ff9b::a01:203", "private"),  # NAT64 around 10.1.2.3
    ],
)
def test_non_public_addresses_are_refused(address: str, reason: str) -> None:
    refusal = delivery.refusal(ipaddress.ip_address(address), allow_loopback=False)
    assert refusal is not None
    assert reason in refusal


def test_public_addresses_pass_and_loopback_only_when_allowed() -> None:
    for address in ("93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946", "8.8.8.8"):
        assert delivery.refusal(ipaddress.ip_address(address), allow_loopback=False) is None
    loopback = ipaddress.ip_address("127.0.0.1")
    assert delivery.refusal(loopback, allow_loopback=True) is None
    private = ipaddress.ip_address("10.0.0.1")
    assert delivery.refusal(private, allow_loopback=True) is not None


async def test_an_ipv6_literal_registers_and_is_checked_when_delivered(
    client: AsyncClient, org: NewOrg
) -> None:
    for url in ("https://[2606:4700:4700::1111]/hook", "http://[::1]:8080/hook"):
        await _register(client, org.api_key, url, ["call.issued"])
    for url, reason in (
        ("http://[::1]:9/hook", "loopback"),
        ("http://[::ffff:127.0.0.1]:9/hook", "loopback"),
        ("http://[::ffff:169.254.169.254]/latest", "metadata"),
        ("http://[fc00::1]/hook", "private"),
        ("http://[::]/hook", "private"),
    ):
        with pytest.raises(delivery.Refused, match=reason):
            await delivery.post(
                url, body=b"{}", headers={}, allow_loopback=False, timeout_seconds=2
            )


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:99999/hook", "port 99999"),
        ("http://hooks..example.com/hook", "not a valid host name"),
        ("http://" + "a" * 64 + ".example.com/hook", "not a valid host name"),
    ],
)
async def test_an_unusable_url_is_refused_not_crashed_on(url: str, reason: str) -> None:
    """A URL stored before registration checked it: the attempt ends as a recorded refusal,
    not an exception the delivery record never hears of."""
    with pytest.raises(delivery.Refused, match=reason):
        await delivery.post(
            url,
            body=b"{}",
            headers={},
            allow_loopback=True,
            timeout_seconds=2,
        )


async def test_a_name_resolving_to_loopback_is_refused() -> None:
    with pytest.raises(delivery.Refused, match="loopback"):
        await delivery.resolve("localhost", 80, allow_loopback=False)


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    header = delivery.sign("whsec_test", 1700000000, b'{"a":1}')
    expected = hmac.new(b"whsec_test", b'1700000000.{"a":1}', hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"
