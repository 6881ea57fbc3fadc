"""The fund page's forms for exits and carry: record a deal's realisation, cancel one (after a
confirmation), release escrow to the GP before wind-down and record the GP's clawback
repayment. Each calls the service its API route calls (`POST …/deals/{d}/realisations`,
`…/realisations/{r}/cancel`, `POST …/escrow/releases`, `POST …/clawback/repayments`), so the
rules, the audit and the idempotency (the form's key) are the API's; a refusal is shown next
to the field it is about, in the API's words.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from pydantic import ValidationError

from prorata.carry import service as carry_service
from prorata.console import forms
from prorata.console.funds import fund_page
from prorata.console.routing import PageDb, PageRoute, SignedIn, see_other
from prorata.deals import realisations
from prorata.deals.schemas import RealisationCreate
from prorata.platform import errors

router = APIRouter(route_class=PageRoute)
FormText = Annotated[str, Form()]


class _Unreadable(Exception):
    """A form field that is not what it should be (a date that is not one): `field` and why."""

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(detail)
        self.field = field
        self.detail = detail


def _day(text: str, field: str, example: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise _Unreadable(field, f"the date must be a day, e.g. {example}") from None


def _amount(text: str, field: str, example: str) -> Decimal:
    value = forms.money(text)
    if value is None:
        raise _Unreadable(field, f"{field} must be a number, e.g. {example}")
    return value


def _field_of(detail: str, fields: Sequence[str], otherwise: str) -> str:
    """The form field a service's refusal is about: the one its words start with (the API
    names the field first: "cost_realised 5 is more than …"), else `otherwise`."""
    return next((f for f in fields if detail.startswith(f)), otherwise)


async def _attempt(
    request: Request,
    db: PageDb,
    page: SignedIn,
    fund_id: uuid.UUID,
    prefix: str,
    change: Callable[[], Awaitable[object]],
    place: Callable[[str], str],
) -> Response | None:
    """Run `change` in a savepoint; on a refusal, the fund page again (422) with the API's
    words next to the field `place(detail)` names (ids `prefix-field`), nothing written."""
    try:
        async with db.begin_nested():
            await change()
    except _Unreadable as unreadable:
        field, detail = unreadable.field, unreadable.detail
    except ValidationError as invalid:
        [(field, detail), *_] = forms.field_errors(invalid).items()
    except (errors.RuleViolation, errors.Conflict, errors.NotFound) as refused:
        field, detail = place(refused.detail), refused.detail
    else:
        return None
    return await fund_page(
        request, db, page, fund_id, form_errors={f"{prefix}-{field}": detail}, status=422
    )


@router.post("/funds/{fund_id}/deals/{deal_id}/realisations")
async def record_realisation(
    request: Request,
    db: PageDb,
    page: SignedIn,
    fund_id: uuid.UUID,
    deal_id: uuid.UUID,
    date: FormText = "",
    proceeds: FormText = "",
    cost_realised: FormText = "",
) -> Response:
    """A deal's exit or write-down, as `POST /funds/{f}/deals/{d}/realisations`."""

    async def realise() -> None:
        data = RealisationCreate(
            date=_day(date, "date", "2027-03-31"),
            proceeds=_amount(proceeds, "proceeds", "1500000.00"),
            cost_realised=_amount(cost_realised, "cost_realised", "1000000.00"),
        )
        await realisations.realise(
            db, actor=page.principal, fund_id=fund_id, deal_id=deal_id, data=data
        )

    refused = await _attempt(
        request,
        db,
        page,
        fund_id,
        f"realise-{deal_id}",
        realise,
        lambda detail: _field_of(detail, ("proceeds", "cost_realised"), "date"),
    )
    return refused or see_other(f"/funds/{fund_id}#realisations-heading")


@router.post("/funds/{fund_id}/deals/{deal_id}/realisations/{realisation_id}/cancel")
async def cancel_realisation(
    request: Request,
    db: PageDb,
    page: SignedIn,
    fund_id: uuid.UUID,
    deal_id: uuid.UUID,
    realisation_id: uuid.UUID,
    confirm: FormText = "",
) -> Response:
    """Cancel a realisation (its realised gain reversed), once the box saying so is ticked."""

    async def cancel() -> None:
        if confirm != "yes":
            raise _Unreadable(
                "confirm", "tick the box to confirm: the realised gain or loss is reversed"
            )
        await realisations.cancel(
            db,
            actor=page.principal,
            fund_id=fund_id,
            deal_id=deal_id,
            realisation_id=realisation_id,
        )

    refused = await _attempt(
        request, db, page, fund_id, f"cancel-{realisation_id}", cancel, lambda _: "confirm"
    )
    return refused or see_other(f"/funds/{fund_id}#realisations-heading")


@router.post("/funds/{fund_id}/escrow/releases")
async def release_escrow(
    request: Request,
    db: PageDb,
    page: SignedIn,
    fund_id: uuid.UUID,
    date: FormText = "",
    amount: FormText = "",
) -> Response:
    """Escrow paid to the GP before wind-down, as `POST /funds/{f}/escrow/releases` (an empty
    amount: all that may be released)."""

    async def release() -> None:
        day = _day(date, "date", "2027-03-31")
        wanted = _amount(amount, "amount", "25000.00") if amount.strip() else None
        await carry_service.release_escrow(
            db, actor=page.principal, fund_id=fund_id, day=day, amount=wanted
        )

    refused = await _attempt(
        request,
        db,
        page,
        fund_id,
        "release",
        release,
        lambda detail: "date" if detail.startswith("escrow is released on or after") else "amount",
    )
    return refused or see_other(f"/funds/{fund_id}#carry-heading")


@router.post("/funds/{fund_id}/clawback/repayments")
async def repay_clawback(
    request: Request,
    db: PageDb,
    page: SignedIn,
    fund_id: uuid.UUID,
    date: FormText = "",
    amount: FormText = "",
) -> Response:
    """The GP's repayment of the clawback receivable, as `POST /funds/{f}/clawback/repayments`."""

    async def repay() -> None:
        day = _day(date, "date", "2028-01-31")
        await carry_service.repay(
            db,
            actor=page.principal,
            fund_id=fund_id,
            day=day,
            amount=_amount(amount, "amount", "25000.00"),
        )

    refused = await _attempt(
        request,
        db,
        page,
        fund_id,
        "repay",
        repay,
        lambda detail: "date" if detail.startswith("a repayment is on or after") else "amount",
    )
    return refused or see_other(f"/funds/{fund_id}#carry-heading")
