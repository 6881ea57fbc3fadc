"""An investor's bank account in pages: the GP's investor page and the LP portal share these."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from prorata.bank_accounts import service as bank_service
from prorata.bank_accounts.schemas import BankAccountIn
from prorata.console import forms
from prorata.http.tenancy import Principal
from prorata.platform import errors

# The form's fields, in order, with their labels (the API's field names).
FIELDS = (
    ("bank_name", "Bank"),
    ("account_name", "Account name"),
    ("account_number", "Account number or IBAN"),
    ("routing", "Routing number, sort code or BIC"),
    ("reference", "Payment reference"),
)
OPTIONAL = frozenset({"routing", "reference"})
CODE_FIELD = "totp_code"


@dataclasses.dataclass(frozen=True)
class Section:
    """What a page shows of an investor's bank account (never the number in full)."""

    view: bank_service.View
    masked: str | None
    pending_masked: str | None


async def section(db: AsyncSession, *, actor: Principal, investor_id: Any) -> Section:
    found = await bank_service.view(db, actor=actor, investor_id=investor_id)
    return Section(
        view=found,
        masked=bank_service.masked(found.account.last4) if found.account else None,
        pending_masked=bank_service.masked(found.pending.last4) if found.pending else None,
    )


def typed(form: Mapping[str, Any]) -> dict[str, str]:
    """What was typed, to show the form again after a refusal (never the code)."""
    return {name: str(form.get(name, "")) for name, _ in FIELDS}


def parse(form: Mapping[str, Any], *, with_code: bool) -> BankAccountIn:
    names = [name for name, _ in FIELDS] + ([CODE_FIELD] if with_code else [])
    return BankAccountIn.model_validate(forms.filled(form, names))


@dataclasses.dataclass(frozen=True)
class Outcome:
    """A form's refusals by field (in the API's words; "bank" for the form as a whole) and the
    status to answer with; no refusals: done."""

    errors: dict[str, str]
    status: int = 200

    @property
    def done(self) -> bool:
        return not self.errors


async def attempt(
    db: AsyncSession,
    form: Mapping[str, Any],
    *,
    with_code: bool,
    submit: Callable[[BankAccountIn], Awaitable[object]],
) -> Outcome:
    """Parse the form and submit it in a savepoint."""
    try:
        data = parse(form, with_code=with_code)
        bank_service.check(data)
    except ValidationError as refused:
        return Outcome(forms.field_errors(refused), 422)
    except errors.RuleViolation as refused:
        return Outcome({str(refused.extensions.get("field", "bank")): refused.detail}, 422)
    return await run(db, lambda: submit(data))


async def run(db: AsyncSession, change: Callable[[], Awaitable[object]]) -> Outcome:
    """A bank change (set, approve, reject) in a savepoint."""
    try:
        refused = await forms.attempt(db, change)
    except errors.Forbidden as problem:
        refused = forms.Refusal(problem.detail, problem.status)
    if refused is None:
        return Outcome({})
    # A wrong or missing code (422) is said beside its field; no two-factor at all (403) is
    # about the whole form.
    about_code = refused.status == 422 and "code" in refused.detail
    return Outcome({CODE_FIELD if about_code else "bank": refused.detail}, refused.status)
