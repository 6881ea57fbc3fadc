"""The calculation endpoints reproduce the domain vectors exactly over HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient

from prorata.http.tenancy import Role
from prorata.orgs.service import NewOrg
from tests.support import bearer


async def _post(client: AsyncClient, key: str, path: str, body: dict[str, Any]) -> Any:
    response = await client.post(f"/api/v1/calculations/{path}", json=body, headers=bearer(key))
    assert response.status_code == 200, response.text
    return response.json()


async def test_prorata_vectors(client: AsyncClient, org: NewOrg) -> None:
    three = await _post(
        client,
        org.api_key,
        "prorata",
        {
            "total": "100000.00",
            "currency": "USD",
            "weights": [{"id": i, "weight": "1"} for i in ("a", "b", "c")],
        },
    )
    assert three["parts"] == [
        {"id": "a", "amount": "33333.34"},
        {"id": "b", "amount": "33333.33"},
        {"id": "c", "amount": "33333.33"},
    ]
    seven = await _post(
        client,
        org.api_key,
        "prorata",
        {
            "total": "100.00",
            "currency": "USD",
            "weights": [{"id": f"i{n}", "weight": "1"} for n in range(7)],
        },
    )
    amounts = [p["amount"] for p in seven["parts"]]
    assert sorted(amounts) == ["14.28"] * 3 + ["14.29"] * 4
    eur = await _post(
        client,
        org.api_key,
        "prorata",
        {
            "total": "5000000",
            "currency": "EUR",
            "weights": [
                {"id": "x", "weight": "5000000"},
                {"id": "y", "weight": "7500000"},
                {"id": "z", "weight": "7500000"},
            ],
        },
    )
    assert [p["amount"] for p in eur["parts"]] == ["1250000.00", "1875000.00", "1875000.00"]


async def test_xirr_vectors(client: AsyncClient, org: NewOrg) -> None:
    flows = [
        ("2008-01-01", "-10000"),
        ("2008-03-01", "2750"),
        ("2008-10-30", "4250"),
        ("2009-02-15", "3250"),
        ("2009-04-01", "2750"),
    ]
    body = {"cash_flows": [{"date": d, "amount": a} for d, a in flows]}
    irr = (await _post(client, org.api_key, "xirr", body))["irr"]
    assert isinstance(irr, str)
    assert abs(float(irr) - 0.373362535) < 2e-9
    no_sign_change = {
        "cash_flows": [
            {"date": "2020-01-01", "amount": "100"},
            {"date": "2021-01-01", "amount": "5"},
        ]
    }
    assert (await _post(client, org.api_key, "xirr", no_sign_change))["irr"] is None


@pytest.mark.parametrize(
    ("contributed", "proceeds", "catch_up", "lp", "gp"),
    [
        ("50", "100", "1", "90.00", "10.00"),  # vector 5
        ("100", "200", "0", "181.60", "18.40"),  # vector 6
        ("100", "200", "1", "180.00", "20.00"),  # vector 7
    ],
)
async def test_waterfall_vectors(
    client: AsyncClient,
    org: NewOrg,
    contributed: str,
    proceeds: str,
    catch_up: str,
    lp: str,
    gp: str,
) -> None:
    body = {
        "terms": {"pref_rate": "0.08", "catch_up": catch_up, "carry": "0.20"},
        "currency": "USD",
        "contributions": [{"date": "2025-01-01", "amount": contributed}],
        "proceeds": [{"date": "2026-01-01", "amount": proceeds}],
    }
    result = await _post(client, org.api_key, "waterfall", body)
    assert (result["lp_total"], result["gp_total"]) == (lp, gp)
    assert result["clawback"] == "0.00"
    assert [t["tier"] for t in result["tiers"]] == [
        "return_of_capital",
        "preferred_return",
        "catch_up",
        "carried_interest",
    ]
    assert result["explanation"]


async def test_bad_inputs_are_422_not_500(client: AsyncClient, org: NewOrg) -> None:
    cases = [
        ("prorata", {"total": "1.001", "currency": "USD", "weights": [{"id": "a", "weight": "1"}]}),
        ("prorata", {"total": "1", "currency": "XYZ", "weights": [{"id": "a", "weight": "1"}]}),
        ("prorata", {"total": "1", "currency": "USD", "weights": [{"id": "a", "weight": "0"}]}),
        ("prorata", {"total": 1.5, "currency": "USD", "weights": [{"id": "a", "weight": "1"}]}),
        (
            "waterfall",
            {
                "currency": "USD",
                "contributions": [{"date": "2025-01-01", "amount": "1E+999999"}],
                "proceeds": [{"date": "2025-07-01", "amount": "2E+999999"}],
            },
        ),
        (
            "waterfall",
            {
                "terms": {"style": "american"},
                "currency": "USD",
                "contributions": [{"date": "2025-01-01", "amount": "1"}],
                "proceeds": [{"date": "2026-01-01", "amount": "2"}],
            },
        ),
    ]
    for path, body in cases:
        response = await client.post(
            f"/api/v1/calculations/{path}", json=body, headers=bearer(org.api_key)
        )
        assert response.status_code == 422, (path, body, response.text)
        assert response.headers["content-type"] == "application/problem+json"


async def test_any_role_may_calculate(client: AsyncClient, role_keys: dict[Role, str]) -> None:
    body = {
        "total": "10",
        "currency": "JPY",
        "weights": [{"id": "a", "weight": "1"}, {"id": "b", "weight": "2"}],
    }
    for key in role_keys.values():
        parts = await _post(client, key, "prorata", body)
        assert [p["amount"] for p in parts["parts"]] == ["3", "7"]
