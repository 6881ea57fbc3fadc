"""The organisation's logo: admins set and remove it, everyone in the organisation reads it,
no other organisation does; only a readable PNG or JPEG of sensible size is taken."""

from __future__ import annotations

import io

import sqlalchemy as sa
from httpx import AsyncClient
from PIL import Image
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prorata.http.tenancy import Role
from prorata.orgs.service import NewOrg
from prorata.platform import db
from prorata.platform.audit import AuditEntry
from tests.conftest import add_member
from tests.support import bearer

LOGO = "/api/v1/org/logo"


def image(kind: str, size: tuple[int, int] = (120, 40)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (20, 60, 120)).save(out, format=kind)
    return out.getvalue()


async def put_logo(client: AsyncClient, key: str, data: bytes, media_type: str) -> int:
    response = await client.put(
        LOGO, content=data, headers={**bearer(key), "Content-Type": media_type}
    )
    return response.status_code


async def test_an_admin_sets_the_logo_and_every_member_reads_it_back(
    client: AsyncClient, org: NewOrg, other_org: NewOrg, sessions: async_sessionmaker[AsyncSession]
) -> None:
    assert (await client.get("/api/v1/org", headers=bearer(org.api_key))).json()["logo_url"] is None
    assert (await client.get(LOGO, headers=bearer(org.api_key))).status_code == 404
    png = image("PNG")
    assert await put_logo(client, org.api_key, png, "image/png") == 204
    assert (await client.get("/api/v1/org", headers=bearer(org.api_key))).json()["logo_url"] == LOGO

    investor = await add_member(sessions, org, Role.investor)
    read = await client.get(LOGO, headers=bearer(investor))
    assert read.status_code == 200
    assert (read.content, read.headers["content-type"]) == (png, "image/png")
    again = await client.get(
        LOGO, headers={**bearer(investor), "If-None-Match": read.headers["etag"]}
    )
    assert again.status_code == 304

    # Another organisation has its own (no) logo; this one's is not reachable from there.
    assert (await client.get(LOGO, headers=bearer(other_org.api_key))).status_code == 404

    manager = await add_member(sessions, org, Role.manager)
    assert await put_logo(client, manager, image("JPEG"), "image/jpeg") == 403
    jpeg = image("JPEG")
    assert await put_logo(client, org.api_key, jpeg, "image/jpeg") == 204
    read = await client.get(LOGO, headers=bearer(org.api_key))
    assert (read.content, read.headers["content-type"]) == (jpeg, "image/jpeg")

    assert (await client.delete(LOGO, headers=bearer(org.api_key))).status_code == 204
    assert (await client.get(LOGO, headers=bearer(org.api_key))).status_code == 404
    async with db.tenant_transaction(sessions, org.org_id) as session:
        actions = await session.scalars(
            sa.select(AuditEntry.action).where(AuditEntry.action.like("org.logo%"))
        )
        assert sorted(actions) == ["org.logo", "org.logo", "org.logo_remove"]


async def test_anything_but_a_readable_png_or_jpeg_of_sensible_size_is_refused(
    client: AsyncClient, org: NewOrg
) -> None:
    refused = {
        b"": "empty",
        b"GIF89a not really": "not a PNG or JPEG image that can be read",
        image("PNG")[:60]: "not a PNG or JPEG image that can be read",  # cut short
        image("GIF"): "a GIF image",
        image("PNG", (8, 8)): "8×8 pixels",
        image("PNG", (2400, 100)): "2400×100 pixels",
        b"\x89PNG" + bytes(300 * 1024): "larger than 256 KB",
    }
    for data, reason in refused.items():
        response = await client.put(
            LOGO, content=data, headers={**bearer(org.api_key), "Content-Type": "image/png"}
        )
        assert response.status_code == 422, (reason, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert reason in response.json()["detail"], response.json()
    assert (await client.get("/api/v1/org", headers=bearer(org.api_key))).json()["logo_url"] is None
