"""Import bugs found by exploratory testing against a running server, each held by a test:
a mapping renamed to a taken name, a dry run answered by an older one, a workbook's header as
read, a sheet named in another case, and a fund's imports exported as CSV.

The job runs in this process (`import_support.run_jobs`: the code the worker task runs).
"""

from __future__ import annotations

from typing import Any

from tests.import_support import Imports
from tests.support import bearer


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    return body


# --- saved mappings: a name taken is a 409, on PUT as on POST --------------------------------


async def test_renaming_a_mapping_to_a_name_taken_is_a_409_like_creating_one(
    imports: Imports,
) -> None:
    api = imports.api
    first = {"kind": "allocations", "name": "A", "columns": {}}
    await api.request("POST", "/import-mappings", json=first, expect=201)
    second = await api.request("POST", "/import-mappings", json={**first, "name": "B"}, expect=201)
    created = await imports.client.post(
        "/api/v1/import-mappings", json=first, headers=bearer(imports.org.api_key)
    )
    renamed = await imports.client.put(
        f"/api/v1/import-mappings/{second['id']}", json=first, headers=bearer(imports.org.api_key)
    )
    same = ("type", "title", "status", "detail")
    assert [_problem(renamed, 409).get(k) for k in same] == [
        _problem(created, 409).get(k) for k in same
    ]
    # Nothing changed, and the connection is as good as before.
    assert await api.request("GET", f"/import-mappings/{second['id']}") == second


async def test_a_mapping_moved_to_a_kind_where_its_name_is_taken_is_a_409(
    imports: Imports,
) -> None:
    api = imports.api
    body = {"kind": "investors", "name": "CRM", "columns": {}, "default": True}
    await api.request("POST", "/import-mappings", json=body, expect=201)
    other = await api.request(
        "POST", "/import-mappings", json={**body, "kind": "commitments"}, expect=201
    )
    moved = await imports.client.put(
        f"/api/v1/import-mappings/{other['id']}",
        json=body,
        headers=bearer(imports.org.api_key),
    )
    assert _problem(moved, 409)["detail"] == (
        "the organisation has a investors mapping named 'CRM' already"
    )
    assert await api.request("GET", f"/import-mappings/{other['id']}") == other


async def test_making_a_mapping_the_default_by_put_moves_the_default(imports: Imports) -> None:
    api = imports.api
    body = {"kind": "investors", "name": "A", "columns": {}, "default": True}
    first = await api.request("POST", "/import-mappings", json=body, expect=201)
    second = await api.request(
        "POST", "/import-mappings", json={**body, "name": "B", "default": False}, expect=201
    )
    put = await api.request(
        "PUT", f"/import-mappings/{second['id']}", json={**body, "name": "B"}, expect=200
    )
    assert put["default"] is True
    assert (await api.request("GET", f"/import-mappings/{first['id']}"))["default"] is False
