"""Rendering pages: one Jinja2 environment (autoescaped), the header's who-is-this, problems.

Numbers and dates are formatted here, once, so every page shows them the same way.
"""

from __future__ import annotations

import datetime as dt
import http
from decimal import Decimal
from pathlib import Path
from typing import Any

import jinja2
import sqlalchemy as sa
from fastapi import Request
from fastapi.responses import HTMLResponse
from sqlalchemy.ext.asyncio import AsyncSession

from prorata.console import assets, forms
from prorata.finance import money
from prorata.http.tenancy import ROLE_RANK, Principal, Role
from prorata.http.transaction import request_session
from prorata.investors.models import Investor
from prorata.orgs.models import Org, User
from prorata.platform import errors

TEMPLATES = Path(__file__).resolve().parent / "templates"
STATIC = Path(__file__).resolve().parent / "static"


def when(value: dt.datetime | None) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC") if value else "—"


def amount(value: Decimal | None, currency: str) -> str:
    """Money with the currency's decimals and thousands separators: 1,234,567.89."""
    if value is None:
        return "—"
    places = money.minor_unit(currency)
    return f"{value.quantize(money.quantum(currency)):,.{places}f}"


def multiple(value: Decimal | None) -> str:
    return "—" if value is None else f"{value:.2f}×"


def percent(value: Decimal | None, places: int = 1) -> str:
    return "—" if value is None else f"{value * 100:.{places}f} %"


def sentence(text: str) -> str:
    """An API detail ("the password is too short") as a sentence on a page."""
    text = text.strip()
    if not text:
        return text
    return text[0].upper() + text[1:] + ("" if text.endswith((".", "?", "!")) else ".")


_environment = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=jinja2.select_autoescape(default=True),
    undefined=jinja2.StrictUndefined,  # a missing value is a bug to see, not an empty cell
    trim_blocks=True,
    lstrip_blocks=True,
)
_environment.filters["when"] = when
_environment.filters["sentence"] = sentence
_environment.filters["amount"] = amount
_environment.filters["multiple"] = multiple
_environment.filters["percent"] = percent
_environment.globals["asset"] = assets.url


async def _viewer(request: Request) -> dict[str, Any]:
    """The signed-in user and organisation for the header, or nothing on public pages."""
    page = getattr(request.state, "page", None)
    if page is None:
        return {"viewer": None}
    session = await request_session(request)
    user = await session.get(User, page.principal.user_id)
    org = await session.get(Org, page.principal.org_id)
    return {
        "viewer": {
            "email": user.email if user else "",
            "name": (user.name or user.email) if user else "",
            "org": org.name if org else "",
            "role": str(page.principal.role),
            "admin": ROLE_RANK[page.principal.role] >= ROLE_RANK[Role.admin],
            "investors": await _switchable(session, page.principal),
        }
    }


async def _switchable(session: AsyncSession, principal: Principal) -> list[dict[str, Any]]:
    """The investors the portal's switcher offers: those of a member linked to several."""
    if principal.role is not Role.investor or len(principal.investor_ids) < 2:
        return []
    rows = await session.execute(
        sa.select(Investor.id, Investor.name)
        .where(Investor.id.in_(principal.investor_ids))
        .order_by(Investor.name, Investor.id)
    )
    return [
        {"id": str(investor_id), "name": name, "current": investor_id == principal.investor_id}
        for investor_id, name in rows.all()
    ]


async def page(
    request: Request, template: str, *, status: int = 200, **context: Any
) -> HTMLResponse:
    values = {
        **({"viewer": None} if "viewer" in context else await _viewer(request)),
        "csrf_token": forms.form_token(request),
        "path": request.url.path,
        # The page answers a form (a refusal shown with the form): a live page must not reload
        # it, which would send the form again.
        "posted": request.method != "GET",
        "errors": {},
        "notice": None,
        **context,
    }
    body = _environment.get_template(template).render(values)
    return HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


async def problem_page(request: Request, problem: errors.Problem) -> HTMLResponse:
    response = await page(
        request,
        "problem.html",
        status=problem.status,
        viewer=None,  # the transaction was rolled back: the header names nobody
        title=problem.title or http.HTTPStatus(problem.status).phrase,
        detail=problem.detail,
    )
    response.headers.update({k: v for k, v in problem.headers.items() if k != "WWW-Authenticate"})
    return response
