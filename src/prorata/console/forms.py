"""CSRF tokens of forms: the session's synchronizer token, or before anyone is signed in a
double-submit cookie (`prorata_form`) that the form's hidden `csrf_token` must match."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Awaitable, Callable, Iterable, Mapping
from decimal import Decimal, InvalidOperation

from fastapi import Request, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from prorata.config import Settings
from prorata.platform import errors

FORM_COOKIE = "prorata_form"
CSRF_FIELD = "csrf_token"


def form_token(request: Request) -> str:
    """The token this request's forms carry (a new `prorata_form` cookie is set when the
    browser has none: see `set_form_cookie`)."""
    page_session = getattr(request.state, "page", None)
    if page_session is not None:
        token: str = page_session.csrf_token
        return token
    found: str | None = request.cookies.get(FORM_COOKIE) or getattr(
        request.state, "new_form_token", None
    )
    if found is None:
        found = secrets.token_urlsafe(32)
        request.state.new_form_token = found
    return found


def set_form_cookie(request: Request, response: Response) -> None:
    new_token = getattr(request.state, "new_form_token", None)
    if new_token is not None:
        settings: Settings = request.app.state.settings
        response.set_cookie(
            FORM_COOKIE,
            new_token,
            httponly=True,
            samesite="lax",
            secure=settings.secure_cookies,
            path="/",
        )


def refusal(refused: Exception, otherwise: str) -> str:
    """What to say next to a form a service refused: the API's own words (a problem's detail),
    or `otherwise` for input the form could not even read (a date that is not one)."""
    return refused.detail if isinstance(refused, errors.Problem) else otherwise


def field_errors(error: ValidationError) -> dict[str, str]:
    """A request model's refusal as one message per form field, in the API's own words."""
    found: dict[str, str] = {}
    for item in error.errors():
        location = [str(part) for part in item["loc"] if not isinstance(part, int)]
        field = location[0] if location else "form"
        found.setdefault(field, str(item["msg"]))
    return found


def filled(form: Mapping[str, object], names: Iterable[str]) -> dict[str, object]:
    """The named fields that were filled in (an empty field takes the model's default)."""
    return {
        name: value.strip()
        for name in names
        if isinstance(value := form.get(name), str) and value.strip()
    }


def money(text: str) -> Decimal | None:
    """An amount as typed in a form (thousands separators allowed), or None if it is not a
    finite number; the service then applies the API's rules (decimals of the currency, sign)."""
    try:
        value = Decimal(text.strip().replace(",", ""))
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


@dataclasses.dataclass(frozen=True)
class Refusal:
    detail: str  # the API's words
    status: int


async def attempt(db: AsyncSession, change: Callable[[], Awaitable[object]]) -> Refusal | None:
    """Run a form's change (parsing included) in a savepoint, as its API route would: None when
    done, else the refusal to show beside the form (nothing of it written)."""
    try:
        async with db.begin_nested():
            await change()
    except ValidationError as refused:
        return Refusal(next(iter(field_errors(refused).values()), "check the form"), 422)
    except (errors.RuleViolation, errors.Conflict) as refused:
        return Refusal(refused.detail, refused.status)
    return None
