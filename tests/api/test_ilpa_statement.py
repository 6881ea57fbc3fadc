"""The ILPA-style statement (QTD, YTD, ITD): contributions by purpose, distributions by kind,
columns that roll forward to the cent and equal the capital account of the same periods, the ITD
ending the account's closing balance, % ownership, and the investor's metrics as /metrics says."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import pytest
from httpx import AsyncClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prorata.config import Settings
from prorata.http.tenancy import Role
from prorata.orgs.service import NewOrg
from tests.conftest import add_member
from tests.fund_support import FundApi
from tests.support import served

OUTFLOWS = ("management_fees", "expenses", "carried_interest")


@pytest.fixture
def api(client: AsyncClient, org: NewOrg) -> FundApi:
    return FundApi(client, org.api_key)


def _rolls_forward(column: dict[str, Any]) -> bool:
    contributions = column["contributions"]
    distributions = column["distributions"]
    parts_add_up = sum(Decimal(v) for k, v in contributions.items() if k != "total") == Decimal(
        contributions["total"]
    ) and sum(Decimal(v) for k, v in distributions.items() if k != "total") == Decimal(
        distributions["total"]
    )
    moved = (
        Decimal(contributions["total"])
        - Decimal(distributions["total"])
        - sum(Decimal(column[line]) for line in OUTFLOWS)
        + Decimal(column["allocated_gains_losses"])
    )
    return parts_add_up and Decimal(column["beginning_balance"]) + moved == Decimal(
        column["ending_balance"]
    )


def _as_account(column: dict[str, Any]) -> dict[str, str]:
    """A column in the capital account API's words."""
    return {
        "beginning_balance": column["beginning_balance"],
        "contributions": column["contributions"]["total"],
        "distributions": column["distributions"]["total"],
        "carried_interest": column["carried_interest"],
        "management_fees": column["management_fees"],
        "expenses": column["expenses"],
        "allocated_gains_losses": column["allocated_gains_losses"],
        "ending_balance": column["ending_balance"],
    }


async def _check(
    api: FundApi, fund: str, investor: str, end: dt.date, since: dt.date | None = None
) -> dict[str, Any]:
    """The statement at `end` (and from `since`), each column checked against the capital
    account's period."""
    base = f"/funds/{fund}/investors/{investor}/capital-account"
    extra = f"&from={since}" if since else ""
    found = await api.request("GET", f"{base}/statement?as_of={end}{extra}")
    starts = {
        "qtd": dt.date(end.year, 3 * ((end.month - 1) // 3) + 1, 1).isoformat(),
        "ytd": dt.date(end.year, 1, 1).isoformat(),
        "itd": None,
    }
    if since is None:
        assert found["columns"]["period"] is None
    else:
        starts["period"] = since.isoformat()
    for period, start in starts.items():
        column = found["columns"][period]
        assert (column["from"], column["to"]) == (start, end.isoformat())
        assert _rolls_forward(column), (period, column)
        query = f"to={end}" + (f"&from={start}" if start else "")
        account = await api.request("GET", f"{base}?{query}")
        assert _as_account(column) == {k: account[k] for k in _as_account(column)}, period
        if start is None:
            assert (found["commitment"], found["contributed"], found["unfunded"]) == (
                account["commitment"],
                account["contributed"],
                account["unfunded"],
            )
    return dict(found)


async def test_columns_break_down_contributions_by_purpose_and_distributions_by_kind(
    api: FundApi,
) -> None:
    fund = await api.fund()
    investor, other = await api.investors_with(fund, ["750000.00", "250000.00"])
    deal = await api.deal(fund)
    invest = {"purpose": "investment", "deal_id": deal}
    first = await api.call_and_pay(fund, [{**invest, "amount": "400000.00"}], notice="2025-11-03")
    await api.call_and_pay(
        fund, [{"purpose": "management_fee", "amount": "20000.00"}], notice="2026-01-05"
    )
    await api.call_and_pay(
        fund,
        [{**invest, "amount": "200000.00"}, {"purpose": "fund_expenses", "amount": "8000.00"}],
        notice="2026-04-06",
    )
    await api.pay(fund, str(first["id"]), investor, "300000.00")
    await api.distribute(fund, "40000.00", "2026-02-16", kind="return_of_capital")
    await api.distribute(fund, "12000.00", "2026-05-15", kind="income")
    await api.distribute(fund, "4000.00", "2026-06-01", kind="recallable")
    await api.request(
        "POST",
        f"/funds/{fund}/valuations",
        json={"as_of": "2026-06-30", "nav": "600000.00"},
        expect=201,
    )
    found = await _check(api, fund, investor, dt.date(2026, 6, 30))
    qtd, ytd, itd = (found["columns"][p] for p in ("qtd", "ytd", "itd"))
    # 75% of each call: investment 300,000 (2025), 150,000 (Q2); fee 15,000 (Q1); expenses 6,000.
    assert qtd["contributions"] == {
        "investment": "150000.00",
        "management_fee": "0.00",
        "fund_expenses": "6000.00",
        "total": "156000.00",
    }
    assert ytd["contributions"]["management_fee"] == "15000.00"
    assert ytd["contributions"]["total"] == "171000.00"
    assert itd["contributions"]["investment"] == "450000.00"
    assert (ytd["management_fees"], qtd["management_fees"]) == ("15000.00", "0.00")
    assert (ytd["expenses"], qtd["expenses"]) == ("6000.00", "6000.00")
    assert ytd["distributions"]["return_of_capital"] == "30000.00"
    assert qtd["distributions"]["return_of_capital"] == "0.00"
    assert qtd["distributions"]["recallable"] == "3000.00"
    income = Decimal(qtd["distributions"]["income"]) + Decimal(qtd["carried_interest"])
    assert income == Decimal("9000.00")  # the LP's and the GP's parts of 75% of 12,000
    assert (itd["beginning_balance"], ytd["beginning_balance"]) == ("0.00", "300000.00")
    assert found["quarter"] == "2026-Q2"
    assert (found["commitment"], found["fund_commitment"]) == ("750000.00", "1000000.00")
    assert Decimal(found["ownership"]) == Decimal("0.75")
    metrics = await api.request(
        "GET", f"/funds/{fund}/metrics?as_of=2026-06-30&investor_id={investor}"
    )
    assert {k: found[k] for k in ("dpi", "tvpi", "irr", "nav", "paid_in")} == {
        k: metrics[k] for k in ("dpi", "tvpi", "irr", "nav", "paid_in")
    }
    assert found["dpi"] is not None
    await _check(api, fund, other, dt.date(2026, 6, 30))
    await _check(api, fund, other, dt.date(2026, 2, 28))


async def test_an_investor_in_another_fund_is_not_found_and_an_empty_period_refused(
    api: FundApi,
) -> None:
    fund = await api.fund()
    [investor] = await api.investors_with(fund, ["100.00"])
    stranger = await api.investor("Elsewhere")
    base = f"/funds/{fund}/investors/{{}}/capital-account/statement"
    await api.request("GET", base.format(stranger), expect=404)
    refused = await api.request(
        "GET", base.format(investor) + "?as_of=2026-03-31&from=2026-04-01", expect=422
    )
    assert "the period is empty" in refused["detail"]


async def test_an_investor_member_reads_its_own_statement_only(
    client: AsyncClient, org: NewOrg, sessions: async_sessionmaker[AsyncSession], api: FundApi
) -> None:
    fund = await api.fund()
    mine, theirs = await api.investors_with(fund, ["100.00", "300.00"])
    await api.call_and_pay(fund, [{"purpose": "fund_expenses", "amount": "40.00"}])
    lp = FundApi(
        client, await add_member(sessions, org, Role.investor, investor_id=uuid.UUID(mine))
    )
    base = f"/funds/{fund}/investors/{{}}/capital-account/statement?as_of=2026-12-31"
    own = await lp.request("GET", base.format(mine))
    assert own["columns"]["itd"]["contributions"]["fund_expenses"] == "10.00"
    assert (own["columns"]["itd"]["expenses"], own["ownership"]) == ("10.00", "0.2500000000")
    await lp.request("GET", base.format(theirs), expect=404)


START = dt.date(2025, 10, 6)
AMOUNT = st.integers(10_000, 5_000_000).map(lambda cents: Decimal(cents) / 100)
STEP = st.one_of(
    st.tuples(
        st.just("call"), st.sampled_from(["investment", "management_fee", "fund_expenses"]), AMOUNT
    ),
    st.tuples(
        st.just("distribute"),
        st.sampled_from(["return_of_capital", "income", "gain", "recallable"]),
        AMOUNT,
    ),
    st.tuples(st.just("value"), st.just(""), AMOUNT),
)


async def _walk(settings: Settings, org: NewOrg, steps: list[tuple[str, str, Decimal]]) -> None:
    from prorata.app import create_app

    async with served(create_app(settings)) as client:
        api = FundApi(client, org.api_key)
        fund = await api.fund()
        investors = await api.investors_with(fund, ["250000.00", "125000.37"])
        called = False
        day = START
        for n, (drawn, named, amount) in enumerate(steps):
            day = START + dt.timedelta(days=41 * (n + 1))
            # A distribution before any capital is called is refused: call instead.
            first = drawn == "distribute" and not called
            step, kind = ("call", "investment") if first else (drawn, named)
            called = called or step == "call"
            if step == "call":
                items = [{"purpose": kind, "amount": str(amount)}]
                if kind == "investment":
                    items[0]["deal_id"] = await api.deal(fund, f"Deal {n}")
                await api.call_and_pay(fund, items, notice=day.isoformat())
            elif step == "distribute":
                await api.distribute(fund, str(amount), day.isoformat(), kind=kind)
            else:
                body = {"as_of": day.isoformat(), "nav": str(amount)}
                await api.request("POST", f"/funds/{fund}/valuations", json=body, expect=201)
        for end in (day, day + dt.timedelta(days=95)):
            for investor in investors:
                await _check(api, fund, investor, end, since=end - dt.timedelta(days=60))


def test_every_column_rolls_forward_and_equals_the_capital_account_whatever_happened(
    settings: Settings, org: NewOrg
) -> None:
    @given(steps=st.lists(STEP, min_size=1, max_size=6))
    @hypothesis_settings(
        max_examples=8,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
    )
    def walk(steps: list[tuple[str, str, Decimal]]) -> None:
        asyncio.run(_walk(settings, org, steps))

    walk()
