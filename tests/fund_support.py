"""Building a fund through the API, for tests."""

from __future__ import annotations

import uuid
from typing import Any

from httpx import AsyncClient

from tests.support import bearer


class FundApi:
    """Calls the fund register API as one principal and asserts each call succeeds."""

    def __init__(self, client: AsyncClient, api_key: str) -> None:
        self.client = client
        self.headers = bearer(api_key)

    async def request(
        self, method: str, path: str, *, expect: int = 200, money: bool = False, **kwargs: Any
    ) -> Any:
        headers = dict(self.headers)
        if money:
            headers["Idempotency-Key"] = str(uuid.uuid4())
        response = await self.client.request(method, f"/api/v1{path}", headers=headers, **kwargs)
        assert response.status_code == expect, (
            f"{method} {path}: {response.status_code} {response.text}"
        )
        return response.json() if response.content else None

    async def fund(self, currency: str = "USD", **terms: Any) -> str:
        """A fund whose notices are mailed at issue unless `notices_need_approval=True` (the
        API's default for new funds is on; most tests are about other things)."""
        body = {
            "name": f"Fund {uuid.uuid4().hex[:6]}",
            "currency": currency,
            "notices_need_approval": False,
            **terms,
        }
        return str((await self.request("POST", "/funds", json=body, expect=201))["id"])

    async def investor(self, name: str = "LP") -> str:
        body = {"name": name, "kind": "entity"}
        return str((await self.request("POST", "/investors", json=body, expect=201))["id"])

    async def commit(self, fund_id: str, investor_id: str, amount: str) -> Any:
        body = {"investor_id": investor_id, "amount": amount, "committed_on": "2025-01-02"}
        return await self.request("POST", f"/funds/{fund_id}/commitments", json=body, expect=201)

    async def investors_with(self, fund_id: str, amounts: list[str]) -> list[str]:
        ids = []
        for n, amount in enumerate(amounts):
            investor_id = await self.investor(f"LP {n}")
            await self.commit(fund_id, investor_id, amount)
            ids.append(investor_id)
        return ids

    async def deal(self, fund_id: str, name: str = "Deal") -> str:
        body = {"name": name, "company": "Acme Robotics", "instrument": "Series A"}
        return str(
            (await self.request("POST", f"/funds/{fund_id}/deals", json=body, expect=201))["id"]
        )

    async def allocate(self, fund_id: str, deal_id: str, amounts: dict[str, str]) -> None:
        """Each investor's allocation to the deal (investor id → amount)."""
        for investor_id, amount in amounts.items():
            await self.request(
                "PUT",
                f"/funds/{fund_id}/deals/{deal_id}/allocations/{investor_id}",
                json={"amount": amount},
            )

    async def draft(
        self,
        fund_id: str,
        items: list[dict[str, Any]],
        notice: str = "2026-03-02",
        expect: int = 201,
    ) -> Any:
        body = {"notice_date": notice, "items": items}
        return await self.request(
            "POST", f"/funds/{fund_id}/capital-calls", json=body, expect=expect
        )

    async def issue(self, fund_id: str, call_id: str, expect: int = 200) -> Any:
        return await self.request(
            "POST", f"/funds/{fund_id}/capital-calls/{call_id}/issue", money=True, expect=expect
        )

    async def pay(
        self,
        fund_id: str,
        call_id: str,
        investor_id: str,
        amount: str,
        expect: int = 200,
        received_on: str = "2026-03-20",
    ) -> Any:
        body = {"investor_id": investor_id, "amount": amount, "received_on": received_on}
        return await self.request(
            "POST",
            f"/funds/{fund_id}/capital-calls/{call_id}/payments",
            json=body,
            money=True,
            expect=expect,
        )

    async def commitments(self, fund_id: str) -> dict[str, Any]:
        page = await self.request("GET", f"/funds/{fund_id}/commitments?limit=500")
        return {row["investor_id"]: row for row in page["items"]}

    async def call_and_issue(
        self, fund_id: str, items: list[dict[str, Any]], notice: str = "2026-03-02"
    ) -> Any:
        """A call drafted and issued: its contributions are in the ledger (due 10 business
        days after `notice`)."""
        call = await self.draft(fund_id, items, notice=notice)
        return await self.issue(fund_id, str(call["id"]))

    async def pay_in_full(self, fund_id: str, call: Any) -> Any:
        """Every line of an issued call paid what it owes, on the call's due date: the capital
        counts as contributed from then (docs/fund-operations.md)."""
        for line in call["lines"]:
            if line["outstanding"] != "0.00" and not line["outstanding"].startswith("-"):
                call = await self.pay(
                    fund_id,
                    str(call["id"]),
                    line["investor_id"],
                    line["outstanding"],
                    received_on=call["due_date"],
                )
        return call

    async def call_and_pay(
        self, fund_id: str, items: list[dict[str, Any]], notice: str = "2026-03-02"
    ) -> Any:
        """A call drafted, issued and paid in full on its due date."""
        return await self.pay_in_full(fund_id, await self.call_and_issue(fund_id, items, notice))

    async def distribute(
        self,
        fund_id: str,
        amount: str,
        date: str,
        kind: str = "gain",
        deal_id: str | None = None,
        expect: int = 201,
        realisation_id: str | None = None,
    ) -> Any:
        body = {"date": date, "amount": amount, "kind": kind, "deal_id": deal_id}
        if realisation_id is not None:  # the realisation whose proceeds these are
            body["realisation_id"] = realisation_id
        return await self.request(
            "POST", f"/funds/{fund_id}/distributions", json=body, money=True, expect=expect
        )
