"""Keyset (cursor) pagination, the only kind the API has.

(No `from __future__ import annotations` here: FastAPI must evaluate the annotations of the
dependency built in `page_params`, and a closure's names are not in the module globals.)

Every list answers `{"items": [...], "next_cursor": "..." | null}`. The cursor is opaque
(base64url of the last row's sort key), the order is stable (a unique key ends every sort),
and page 10,000 costs what page 1 costs: no OFFSET.
"""

import base64
import binascii
import datetime as dt
import json
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Generic, TypeVar

import sqlalchemy as sa
import sqlalchemy.orm
from fastapi import Depends, Query
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from prorata.platform import errors

T = TypeVar("T")
# A select of any shape: one entity, or columns.
AnySelect = sa.Select[*tuple[Any, ...]]
# A sort-key column: an entity's attribute, or a table's column (for selects of columns).
KeyColumn = sa.orm.InstrumentedAttribute[Any] | sa.sql.elements.KeyedColumnElement[Any]
DEFAULT_LIMIT = 50
MAX_LIMIT = 500


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None


M = TypeVar("M", bound=BaseModel)


def render(page: Page[Any], model: type[M]) -> Page[M]:
    """A page of rows (ORM objects or Core rows) as a page of response models, validated in
    one pass: pydantic-core reads the attributes, no Python loop of `model_validate` calls."""
    shape: type[Page[M]] = Page[model]  # type: ignore[valid-type]
    return shape.model_validate(
        {"items": page.items, "next_cursor": page.next_cursor}, from_attributes=True
    )


class PageParams(BaseModel):
    limit: int
    cursor: str | None


def cursor_format(key_size: int) -> str:
    """The OpenAPI `format` of a list's cursor: opaque, but it names the key's arity so
    schema-driven tools can make real cursors."""
    return f"prorata-cursor-{key_size}"


def page_params(key_size: int) -> Callable[..., Coroutine[Any, Any, PageParams]]:
    """The dependency parsing `limit` and `cursor` of a list ordered by `key_size` columns."""

    async def parse(
        limit: Annotated[
            int, Query(ge=1, le=MAX_LIMIT, description=f"Page size, at most {MAX_LIMIT}.")
        ] = DEFAULT_LIMIT,
        cursor: Annotated[
            str | None,
            Query(
                min_length=1,
                max_length=512,
                pattern=r"^[A-Za-z0-9_-]+$",
                json_schema_extra={"format": cursor_format(key_size)},
                description="`next_cursor` of the previous page (opaque).",
            ),
        ] = None,
    ) -> PageParams:
        return PageParams(limit=limit, cursor=cursor)

    return parse


# The query of a list ordered by a one-column key (an id); lists with a composite key declare
# `Annotated[PageParams, Depends(page_params(n))]`.
PageQuery = Annotated[PageParams, Depends(page_params(1))]


def encode_cursor(values: Sequence[Any]) -> str:
    raw = json.dumps([_plain(v) for v in values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _plain(value: Any) -> Any:
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)  # a Decimal as text: exact, never a float
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


def _decode(cursor: str, columns: Sequence[KeyColumn]) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
        if not isinstance(values, list) or len(values) != len(columns):
            raise ValueError("wrong shape")
        return [_typed(value, column) for value, column in zip(values, columns, strict=True)]
    except (ValueError, TypeError, binascii.Error):
        raise errors.BadRequest(
            "the cursor is not valid for this list", title="Bad cursor"
        ) from None


def _typed(value: Any, column: KeyColumn) -> Any:
    python_type = column.type.python_type
    if python_type is uuid.UUID:
        return uuid.UUID(str(value))
    if python_type is dt.datetime:
        return dt.datetime.fromisoformat(str(value))
    if python_type is dt.date:
        return dt.date.fromisoformat(str(value))
    if python_type is Decimal:
        if not isinstance(value, str):
            raise ValueError("wrong type")
        try:
            return Decimal(value)
        except InvalidOperation:
            raise ValueError("not a decimal") from None
    if not isinstance(value, python_type):
        raise ValueError("wrong type")
    return value


async def keyset(
    session: AsyncSession,
    statement: AnySelect,
    *,
    key: Sequence[KeyColumn],
    params: PageParams,
    item: Callable[[Any], T],
    fixed: Sequence[Any] = (),
    parent: Callable[[], Awaitable[object]] | None = None,
    descending: bool = False,
) -> Page[T]:
    """One page of `statement`, ordered by `key` (ascending attributes of its entity; the last
    one must be unique so the order is total). A single-entity statement gives ORM objects; a
    select of columns gives Core rows, which cost far less to load when the list needs no ORM
    object (the attributes read the same).

    A list of a parent's children (a fund's deals) answers 404 for a missing parent: `parent`
    looks it up, raising NotFound. It is awaited only for an empty page: a row of the page
    references its parent (a foreign key), rows are only written under a parent their writer
    could see (services look it up first), and RLS shows the row only to its organisation; so
    a non-empty page proves the parent is there for this tenant, without another query.

    `descending` reverses the whole key (largest first; ties still by the unique last key, in
    reverse): one direction for every key, so one row comparison still finds the cursor.
    """
    # Key columns the statement already pins by equality (to the values `fixed`) stay in the
    # cursor but out of the comparison: `fund = X AND (investor, deal) > (a, b)` lets the
    # B-tree start at the cursor; `(fund, investor, deal) > (X, a, b)` makes it scan from X.
    moving = key[len(fixed) :]
    if params.cursor is not None:
        after = _decode(params.cursor, key)
        # A cursor of another list (fund A's, given to fund B's) would otherwise be read as a
        # position in this one and silently skip rows.
        if after[: len(fixed)] != list(fixed):
            raise errors.BadRequest("the cursor is not valid for this list", title="Bad cursor")
        here, there = sa.tuple_(*moving), sa.tuple_(*after[len(fixed) :])
        statement = statement.where(here < there if descending else here > there)
    order = [column.desc() for column in moving] if descending else moving
    ordered = statement.order_by(*order).limit(params.limit + 1)
    result = await session.execute(ordered)
    rows = list(result.scalars() if _one_entity(statement) else result)
    if not rows and parent is not None:
        await parent()
    next_cursor = None
    if len(rows) > params.limit:
        rows = rows[: params.limit]
        next_cursor = encode_cursor([getattr(rows[-1], attribute.key) for attribute in key])
    return Page[T](items=[item(row) for row in rows], next_cursor=next_cursor)


def _one_entity(statement: AnySelect) -> bool:
    """The statement selects ORM objects of one class (`select(Fund)`), not columns: a
    one-column select (`select(Fund.id)`) is a row like any other, read by attribute."""
    described = statement.column_descriptions
    return len(described) == 1 and sa.inspect(described[0]["type"], raiseerr=False) is not None
