"""API shapes of investors. The tax id is shown in full only on the one-investor view."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from pydantic import Field

from prorata.http.schemas import LABEL, Email, RequestModel, ResponseModel
from prorata.investors.models import InvestorKind

Name = Annotated[str, Field(min_length=1, max_length=200, pattern=LABEL)]
Country = Annotated[str, Field(min_length=2, max_length=2, pattern=r"^[A-Z]{2}$")]
# At least one character that is not a space: the model strips spaces, and a schema-valid value
# must not become an empty one (the fuzzer found " ").
TaxId = Annotated[
    str,
    Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9 ./-]*[A-Za-z0-9./-][A-Za-z0-9 ./-]*$"),
]
ExternalRef = Annotated[
    str,
    Field(
        min_length=1,
        max_length=100,
        pattern=LABEL,
        description="The investor's id in your own systems; unique in your organisation.",
    ),
]

Address = Annotated[
    str,
    Field(
        min_length=1,
        max_length=500,
        pattern=LABEL,
        description="Postal address as printed on its letters, one line per line.",
    ),
]
Attention = Annotated[
    str,
    Field(
        min_length=1,
        max_length=200,
        pattern=LABEL,
        description='Whom its letters are for ("Attn: …"): a person or a desk.',
    ),
]


class InvestorCreate(RequestModel):
    name: Name
    kind: InvestorKind
    email: Email | None = None
    country: Country | None = Field(default=None, description="ISO 3166-1 alpha-2.")
    tax_id: TaxId | None = None
    external_ref: ExternalRef | None = None
    address: Address | None = None
    attention: Attention | None = None


class InvestorUpdate(RequestModel):
    name: Name | None = None
    kind: InvestorKind | None = None
    email: Email | None = None
    country: Country | None = None
    tax_id: TaxId | None = None
    external_ref: ExternalRef | None = None
    address: Address | None = None
    attention: Attention | None = None


class InvestorOut(ResponseModel):
    id: uuid.UUID
    name: str
    kind: InvestorKind
    email: str | None
    country: str | None
    tax_id: str | None = Field(description="Masked (last 4 characters) in lists.")
    external_ref: str | None
    address: str | None
    attention: str | None
    created_at: dt.datetime


def mask(tax_id: str | None) -> str | None:
    """The last 4 characters, but never more than half of it: a short tax id shown "masked to
    its last 4" would be shown whole."""
    if tax_id is None:
        return None
    shown = min(4, len(tax_id) // 2)
    return "•" * (len(tax_id) - shown) + tax_id[len(tax_id) - shown :]


class ContactCreate(RequestModel):
    name: Name
    email: Email
    notices: bool = Field(default=True, description="Receives capital call notices.")
    statements: bool = Field(default=True, description="Receives capital account statements.")
    distributions: bool = Field(default=True, description="Receives distribution notices.")


class ContactUpdate(RequestModel):
    name: Name | None = None
    email: Email | None = None
    notices: bool | None = None
    statements: bool | None = None
    distributions: bool | None = None


class ContactOut(ResponseModel):
    id: uuid.UUID
    investor_id: uuid.UUID
    name: str
    email: str
    notices: bool
    statements: bool
    distributions: bool
    created_at: dt.datetime
