"""Funds, investors, commitments and deals over the API: defaults, PATCH rules, masking."""

from __future__ import annotations

import asyncio
import re

import pytest
from httpx import AsyncClient

from prorata.orgs.service import NewOrg
from tests.fund_support import FundApi


@pytest.fixture
def api(client: AsyncClient, org: NewOrg) -> FundApi:
    return FundApi(client, org.api_key)


async def test_a_fund_has_sensible_default_terms(api: FundApi) -> None:
    fund = await api.request("GET", f"/funds/{await api.fund()}")
    assert (fund["preferred_return_rate"], fund["catch_up_share"], fund["carry_share"]) == (
        "0.08",
        "1",
        "0.20",
    )
    assert (fund["waterfall_style"], fund["day_count"], fund["notice_business_days"]) == (
        "european",
        "act/365",
        10,
    )


async def test_patch_sets_only_what_is_sent_and_refuses_null_where_required(api: FundApi) -> None:
    fund = await api.fund(vintage_year=2024)
    renamed = await api.request("PATCH", f"/funds/{fund}", json={"name": "Growth II"})
    assert (renamed["name"], renamed["vintage_year"]) == ("Growth II", 2024)
    cleared = await api.request("PATCH", f"/funds/{fund}", json={"vintage_year": None})
    assert cleared["vintage_year"] is None
    refused = await api.request("PATCH", f"/funds/{fund}", json={"name": None}, expect=422)
    assert refused["type"] == "urn:prorata:problem:rule-violation"
    await api.request("PATCH", f"/funds/{fund}", json={"currency": "EUR"}, expect=422)
    bad_terms = await api.request(
        "PATCH", f"/funds/{fund}", json={"catch_up_share": "0.1", "carry_share": "0.2"}, expect=422
    )
    assert "catch_up_share" in bad_terms["detail"]


async def test_tax_ids_are_masked_in_lists(api: FundApi) -> None:
    created = await api.request(
        "POST",
        "/investors",
        json={"name": "Pension A", "kind": "entity", "tax_id": "DE123456789"},
        expect=201,
    )
    listed = await api.request("GET", "/investors")
    assert listed["items"][0]["tax_id"] == "•••••••6789"
    one = await api.request("GET", f"/investors/{created['id']}")
    assert one["tax_id"] == "DE123456789"


async def test_a_short_tax_id_is_masked_in_lists_too(api: FundApi) -> None:
    # "Last 4 characters" of a 4-character tax id would be all of it.
    for tax_id, masked in (("1234", "••34"), ("12345", "•••45"), ("A", "•")):
        body = {"name": f"LP {tax_id}", "kind": "individual", "tax_id": tax_id}
        await api.request("POST", "/investors", json=body, expect=201)
        listed = await api.request("GET", "/investors")
        assert {i["name"]: i["tax_id"] for i in listed["items"]}[f"LP {tax_id}"] == masked


async def test_commitment_rules(api: FundApi) -> None:
    fund = await api.fund("JPY")
    investor = await api.investor()
    row = await api.commit(fund, investor, "5000000")
    assert (row["amount"], row["contributed"], row["unfunded"]) == ("5000000", "0", "5000000")
    body = {"investor_id": investor, "amount": "1", "committed_on": "2025-01-02"}
    await api.request("POST", f"/funds/{fund}/commitments", json=body, expect=409)
    other = await api.investor("Other")
    for amount in ("0", "-5", "10.5"):
        body = {"investor_id": other, "amount": amount, "committed_on": "2025-01-02"}
        await api.request("POST", f"/funds/{fund}/commitments", json=body, expect=422)
    stranger = "01a21f00-0000-7000-8000-000000000000"
    body = {"investor_id": stranger, "amount": "1", "committed_on": "2025-01-02"}
    await api.request("POST", f"/funds/{fund}/commitments", json=body, expect=422)


async def test_amounts_beyond_the_declared_bound_are_422_not_500(api: FundApi) -> None:
    fund = await api.fund()
    investor = await api.investor()
    for amount in ("1e50", "1000000000000000"):
        body = {"investor_id": investor, "amount": amount, "committed_on": "2025-01-02"}
        refused = await api.request("POST", f"/funds/{fund}/commitments", json=body, expect=422)
        assert refused["errors"][0]["loc"] == ["body", "amount"]
        deal = {"name": "Big", "invested_amount": amount}
        await api.request("POST", f"/funds/{fund}/deals", json=deal, expect=422)
    assert (await api.commitments(fund)) == {}


async def test_concurrent_duplicate_commitments_are_409_not_500(
    api: FundApi, client: AsyncClient
) -> None:
    fund = await api.fund()
    investor = await api.investor()
    body = {"investor_id": investor, "amount": "100", "committed_on": "2025-01-02"}
    responses = await asyncio.gather(
        *(
            client.post(f"/api/v1/funds/{fund}/commitments", json=body, headers=api.headers)
            for _ in range(10)
        )
    )
    assert sorted(r.status_code for r in responses) == [201] + [409] * 9
    assert {r.headers["content-type"] for r in responses if r.status_code == 409} == {
        "application/problem+json"
    }
    assert list(await api.commitments(fund)) == [investor]


async def test_deals_belong_to_their_fund(api: FundApi) -> None:
    fund, other_fund = await api.fund(), await api.fund()
    deal = await api.deal(fund, "Acme Seed")
    await api.request("GET", f"/funds/{other_fund}/deals/{deal}", expect=404)
    updated = await api.request(
        "PATCH",
        f"/funds/{fund}/deals/{deal}",
        json={"status": "exited", "invested_amount": "2500000.00"},
    )
    assert (updated["status"], updated["invested_amount"]) == ("exited", "2500000.00")
    await api.request(
        "PATCH", f"/funds/{fund}/deals/{deal}", json={"invested_amount": "1.001"}, expect=422
    )


async def test_a_tax_id_of_spaces_only_is_refused_as_the_schema_says(api: FundApi) -> None:
    response = await api.client.post(
        "/api/v1/investors",
        json={"name": "Pension B", "kind": "entity", "tax_id": "   "},
        headers=api.headers,
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "tax_id"]
    schema = (await api.client.get("/api/v1/openapi.json")).json()
    tax_id = schema["components"]["schemas"]["InvestorCreate"]["properties"]["tax_id"]
    [pattern] = [option["pattern"] for option in tax_id["anyOf"] if "pattern" in option]
    # The schema refuses it too: a client (or a fuzzer) that follows the schema never sends it.
    assert re.search(pattern, "   ") is None
    assert re.search(pattern, " DE 123 ") is not None


async def test_commitments_sort_by_name_or_amount_either_way_across_pages(api: FundApi) -> None:
    fund = await api.fund()
    # Ties on amount and names out of creation order: every page boundary must hold.
    people = [("Oak", "300.00"), ("Ash", "100.00"), ("Elm", "300.00"), ("Birch", "50.00")]
    people += [("Yew", "100.00"), ("Fir", "700.00"), ("Cedar", "100.00")]
    ids = {}
    for name, amount in people:
        ids[name] = await api.investor(name)
        await api.commit(fund, ids[name], amount)

    async def walk(sort: str) -> list[tuple[str, str]]:
        seen, cursor = [], ""
        while True:
            page = await api.request(
                "GET", f"/funds/{fund}/commitments?limit=2&sort={sort}{cursor}"
            )
            seen += [(row["investor_id"], row["amount"]) for row in page["items"]]
            if page["next_cursor"] is None:
                return seen
            cursor = f"&cursor={page['next_cursor']}"

    names = {investor_id: name for name, investor_id in ids.items()}
    made = await walk("made")
    assert [names[i] for i, _ in made] == [name for name, _ in people]
    by_name = [names[i] for i, _ in await walk("name")]
    assert by_name == sorted(name for name, _ in people)
    assert [names[i] for i, _ in await walk("-name")] == by_name[::-1]
    by_amount = await walk("amount")
    # Ties by amount go by commitment id: creation order here (ids are time-ordered).
    expected = sorted(made, key=lambda row: float(row[1]))
    assert by_amount == expected
    assert await walk("-amount") == expected[::-1]
    refused = await api.request("GET", f"/funds/{fund}/commitments?sort=size", expect=422)
    assert "sort" in str(refused)
