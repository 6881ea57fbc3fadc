"""Registering webhooks through the API, for tests."""

from __future__ import annotations

from typing import Any

from httpx import AsyncClient

from tests.support import bearer


async def register_webhook(client: AsyncClient, api_key: str, url: str, events: list[str]) -> Any:
    response = await client.post(
        "/api/v1/webhooks", json={"url": url, "events": events}, headers=bearer(api_key)
    )
    assert response.status_code == 201, response.text
    return response.json()
