"""Every third-party asset is served by Prorata exactly as pinned, and the API docs pages use
only those: nothing is loaded from another site."""

from __future__ import annotations

import hashlib
import json
import re

import pytest
from httpx import AsyncClient
from tools import fetch_assets

from prorata.console import assets


def served_assets() -> list[dict[str, str]]:
    return [a for a in fetch_assets.load_manifest() if a["dest"] == "served"]


async def test_every_served_asset_matches_its_pinned_sha256(client: AsyncClient) -> None:
    pinned = served_assets()
    assert {a["package"] for a in pinned} >= {"htmx.org", "chart.js", "swagger-ui-dist", "redoc"}
    for asset in pinned:
        path = assets.url(asset["package"], asset["file"].rsplit("/", 1)[-1])
        response = await client.get(path)
        assert response.status_code == 200, path
        assert hashlib.sha256(response.content).hexdigest() == asset["sha256"], path
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"


def test_the_tree_holds_every_asset_as_pinned() -> None:
    assert fetch_assets.check(fetch_assets.load_manifest()) == []


async def test_the_api_docs_pages_load_nothing_from_another_site(client: AsyncClient) -> None:
    for page in ("/api/v1/docs", "/api/v1/redoc"):
        response = await client.get(page)
        assert response.status_code == 200, page
        assert "default-src 'self'" in response.headers["content-security-policy"]
        assert not re.findall(r"(?:src|href)=[\"']?(?:https?:)?//", response.text), page
        for local in re.findall(r"(?:src|href)=[\"'](/static/[^\"']+)", response.text):
            assert (await client.get(local)).status_code == 200, local
    docs = (await client.get("/api/v1/docs")).text
    assert "'/api/v1/openapi.json'" in docs or '"/api/v1/openapi.json"' in docs
    assert json.loads((await client.get("/api/v1/openapi.json")).text)["info"]["title"]


def test_an_asset_that_is_not_pinned_has_no_url() -> None:
    with pytest.raises(LookupError, match=r"assets\.json"):
        assets.url("left-pad", "index.js")
