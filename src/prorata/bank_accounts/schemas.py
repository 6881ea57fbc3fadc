"""API shapes of bank accounts: in full only on the admin's explicit reveal, masked elsewhere."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Annotated

from pydantic import AfterValidator, Field

from prorata.bank_accounts.models import ChangeStatus
from prorata.http.schemas import LABEL, RequestModel, ResponseModel


def _compact(value: str) -> str:
    """As banks print them (`DE89 3704 0044…`, `12-34-56`) → as they are keyed. What the
    pattern cannot say (an IBAN's check digits, a BIC's shape) is a rule of the service."""
    return re.sub(r"[\s-]", "", value).upper()


def _alphanumerics(least: int, most: int) -> str:
    """`least` to `most` letters and digits, spaces and hyphens anywhere between them."""
    return rf"^[ -]*(?:[A-Za-z0-9][ -]*){{{least},{most}}}$"


Name = Annotated[str, Field(min_length=1, max_length=200, pattern=LABEL)]
AccountNumber = Annotated[
    str,
    Field(
        min_length=4,
        max_length=50,
        pattern=_alphanumerics(4, 34),
        description="Account number or IBAN (spaces and hyphens are ignored; an IBAN's check "
        "digits are verified).",
    ),
    AfterValidator(_compact),
]
Routing = Annotated[
    str,
    Field(
        min_length=6,
        max_length=20,
        pattern=_alphanumerics(6, 11),
        description="Routing number, sort code or BIC (SWIFT code).",
    ),
    AfterValidator(_compact),
]
Reference = Annotated[
    str,
    Field(
        min_length=1,
        max_length=140,
        pattern=LABEL,
        description="What the payment should say (for the investor's reconciliation).",
    ),
]
TotpCode = Annotated[str, Field(min_length=6, max_length=6, pattern=r"^[0-9]{6}$")]


class BankAccountIn(RequestModel):
    bank_name: Name
    account_name: Name = Field(description="The account holder's name, as the bank has it.")
    account_number: AccountNumber
    routing: Routing | None = None
    reference: Reference | None = None
    totp_code: TotpCode | None = Field(
        default=None,
        description="The `investor` member's current authenticator code: required of an LP "
        "(whose change is then held until a GP admin approves it), ignored for GP members.",
    )


class BankDetails(ResponseModel):
    bank_name: str
    account_name: str
    account_number: str
    routing: str | None
    reference: str | None


class ChangeOut(ResponseModel):
    id: uuid.UUID
    investor_id: uuid.UUID
    status: ChangeStatus
    bank_name: str
    account_name: str
    account_number_masked: str
    reference: str | None
    requested_by: uuid.UUID | None
    requested_at: dt.datetime
    decided_by: uuid.UUID | None
    decided_at: dt.datetime | None


class BankAccountOut(ResponseModel):
    investor_id: uuid.UUID
    on_file: bool = Field(description="Whether the investor has a bank account in effect.")
    bank_name: str | None
    account_name: str | None
    account_number_masked: str | None = Field(description="`•••• 1234`: its last characters.")
    reference: str | None
    updated_at: dt.datetime | None
    pending_change: ChangeOut | None = Field(
        description="An LP's change waiting for a GP admin's approval (not yet in effect)."
    )


class RevealOut(ResponseModel):
    investor_id: uuid.UUID
    details: BankDetails | None = Field(
        description="In full. Null only in a replay of an Idempotency-Key: never stored."
    )
