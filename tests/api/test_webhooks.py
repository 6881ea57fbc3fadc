"""Webhooks in process: registration is for admins and per organisation, bad URLs are refused."""

from __future__ import annotations

import pytest
from httpx import AsyncClient

from prorata.http.tenancy import Role
from prorata.orgs.service import NewOrg
from prorata.webhooks import delivery
from tests.support import bearer
from tests.webhook_support import register_webhook


async def test_webhooks_need_an_admin_and_other_orgs_cannot_see_them(
    client: AsyncClient, org: NewOrg, other_org: NewOrg, role_keys: dict[Role, str]
) -> None:
    url, events = "https://hooks.example.com/prorata", ["report.ready"]
    body = {"url": url, "events": events}
    refused = await client.post(
        "/api/v1/webhooks", json=body, headers=bearer(role_keys[Role.manager])
    )
    assert refused.status_code == 403
    hook = await register_webhook(client, role_keys[Role.admin], url, events)
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


async def test_an_ipv6_literal_registers_and_is_checked_when_delivered(
    client: AsyncClient, org: NewOrg
) -> None:
    for url in ("https://[2606:4700:4700::1111]/hook", "http://[::1]:8080/hook"):
        await register_webhook(client, org.api_key, url, ["call.issued"])
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
