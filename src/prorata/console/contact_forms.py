"""An investor's contacts and addressee in forms: the GP's investor page and the LP portal
share these."""

from __future__ import annotations

from typing import Any

from prorata.investors.models import InvestorContact
from prorata.investors.schemas import InvestorUpdate

# What a contact receives: the column, and its name on a page.
KINDS = (
    ("notices", "call notices"),
    ("statements", "statements"),
    ("distributions", "distribution notices"),
)


def receives(contact: InvestorContact) -> str:
    return ", ".join(label for kind, label in KINDS if getattr(contact, kind)) or "nothing"


def data(form: dict[str, Any], *, with_address: bool) -> dict[str, Any]:
    """A contact's form as the API's body: checkboxes are sent only when ticked."""
    found: dict[str, Any] = {kind: kind in form for kind, _ in KINDS}
    if with_address:
        found |= {
            "name": str(form.get("name", "")).strip(),
            "email": str(form.get("email", "")).strip(),
        }
    return found


def addressee(form: dict[str, Any]) -> InvestorUpdate:
    """The address and attention line of an investor's letters, as `PATCH /investors/{id}`
    takes them (an emptied field is cleared)."""
    return InvestorUpdate.model_validate(
        {
            name: (value.strip() or None) if isinstance(value := form.get(name), str) else None
            for name in ("address", "attention")
        }
    )
