"""Keyset (cursor) pagination, the only kind the API has.

(No `from __future__ import annotations` here: FastAPI must evaluate the annotations of the
dependency built in `page_params`, and a closure's names are not in the module globals.)

Every list answers `{"items": [...], "next_cursor": "..." | null}`. The cursor is opaque
(base64url of the last row's sort key), the order is stable (a unique key ends every sort),
and page 10,000 costs what page 1 costs: no OFFSET.
"""

import base64
import binascii
import collections
import dataclasses
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
from sqlalchemy.dialects.postgresql.psycopg import PGDialectAsync_psycopg
from sqlalchemy.ext.asyncio import AsyncSession

from prorata.platform import db, errors

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


_columns_of: dict[type[Any], AnySelect] = {}


def columns_of(entity: type[Any]) -> AnySelect:
    """A select of every column of an entity's table: rows read by attribute like the entity's
    objects (every column attribute is named as its column, checked here), for a list that
    only shows columns. Loading ORM objects costs ~3 times as much per row (identity map,
    instance state), and the page goes through the driver (`_fetch`). Built once per entity."""
    known = _columns_of.get(entity)
    if known is None:
        mapper = sa.inspect(entity)
        table = mapper.local_table
        attributes = {attribute.key for attribute in mapper.column_attrs}
        if attributes != set(table.c.keys()):
            raise TypeError(f"{entity.__name__}: attributes named unlike their columns")
        known = _columns_of[entity] = sa.select(*table.c)
    return known


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
    if _one_entity(statement):
        rows = list((await session.execute(ordered)).scalars())
    else:
        rows = await rows_of(session, ordered)
    if not rows and parent is not None:
        await parent()
    next_cursor = None
    if len(rows) > params.limit:
        rows = rows[: params.limit]
        next_cursor = encode_cursor([getattr(rows[-1], attribute.key) for attribute in key])
    return Page[T](items=[item(row) for row in rows], next_cursor=next_cursor)


async def rows_of(session: AsyncSession, statement: AnySelect) -> list[Any]:
    """The rows of a select of columns, read by attribute: through the driver where it can
    (`_fetch`), through the session otherwise."""
    rows = await _fetch(session, statement)
    if rows is None:
        rows = list(await session.execute(statement))
    return rows


def _one_entity(statement: AnySelect) -> bool:
    """The statement selects ORM objects of one class (`select(Fund)`), not columns: a
    one-column select (`select(Fund.id)`) is a row like any other, read by attribute.

    Remembered by what the statement selects (the very objects: an annotated column compares
    equal to its column): `column_descriptions` costs ~30 µs, a tenth of a page's Python, and
    a list's selects all derive from one select built once (`where` keeps what it selects)."""
    raw = tuple(statement._raw_columns)
    known = _entity_selects.get(tuple(map(id, raw)))
    if known is not None and all(a is b for a, b in zip(known[0], raw, strict=True)):
        return known[1]
    described = statement.column_descriptions
    entity = len(described) == 1 and sa.inspect(described[0]["type"], raiseerr=False) is not None
    if len(_entity_selects) >= _SHAPES_KEPT:
        _entity_selects.clear()
    # The objects are kept with their ids, so an id cannot be reused while it is a key here.
    _entity_selects[tuple(map(id, raw))] = (raw, entity)
    return entity


_entity_selects: dict[tuple[int, ...], tuple[tuple[Any, ...], bool]] = {}


# The page query of a select of columns, run through the driver: SQLAlchemy's execution (the
# session's, the connection's, the result's) cost ~3 times what the query itself costs in
# Python, for a statement whose SQL is the same on every request of a list. Compiled once per
# shape (the statement's cache key: which filters, whether a cursor; never the values), with
# positional parameters, so a request only builds the select and reads its parameters out.
_POSITIONAL = PGDialectAsync_psycopg(paramstyle="format")  # type: ignore[no-untyped-call]
_SHAPES_KEPT = 1000  # shapes come from code (lists × filters present), not from input


@dataclasses.dataclass
class _Shape:
    sql: str
    # For each placeholder, in order, the index of its value in the cache key's parameters.
    order: tuple[int, ...]
    make: Callable[[Sequence[Any]], Any]  # a row as a named tuple (read by attribute)
    fields: int
    # The dialect's result processors, from the first answer's column types (None: none needed).
    processors: list[Callable[[Any], Any] | None] | None = None


_shapes: dict[Any, _Shape | None] = {}


async def _fetch(session: AsyncSession, statement: AnySelect) -> list[Any] | None:
    """The rows of a select of columns through the driver, in the session's transaction (so the
    tenant set on it holds: RLS applies as to any statement), as named tuples; None when the
    statement cannot take this path (the caller runs it through the session).

    The session's own work is kept where it matters: pending ORM changes are flushed first
    (autoflush), and a statement whose types process values (a bind or a result processor
    other than psycopg's own conversions) goes through SQLAlchemy."""
    key = statement._generate_cache_key()
    if key is None:
        return None
    if key.key in _shapes:
        shape = _shapes[key.key]
    else:
        shape = _compile(statement, key)
        if len(_shapes) >= _SHAPES_KEPT:
            _shapes.clear()
        _shapes[key.key] = shape
    if shape is None:
        return None
    if session.sync_session.new or session.sync_session.dirty or session.sync_session.deleted:
        await session.flush()
    values = [key.bindparams[i].effective_value for i in shape.order]
    connection = await db.driver_connection(session)
    cursor = await connection.execute(shape.sql, values)
    found = await cursor.fetchall()
    if shape.processors is None:
        shape.processors = _processors(cursor, statement, shape.fields)
    if any(shape.processors):
        return [_processed(row, shape) for row in found]
    return list(map(shape.make, found))


def _processed(row: Sequence[Any], shape: _Shape) -> Any:
    assert shape.processors is not None
    return shape.make(
        [value if p is None else p(value) for value, p in zip(row, shape.processors, strict=True)]
    )


def _compile(statement: AnySelect, key: Any) -> _Shape | None:
    compiled = statement.compile(dialect=_POSITIONAL)
    if compiled.positiontup is None or compiled.post_compile_params:
        return None
    index = {param.key: i for i, param in enumerate(key.bindparams)}
    binds = [compiled.binds[name] for name in compiled.positiontup]
    if any(bind.key not in index for bind in binds):
        return None  # a parameter the cache key does not carry (a fixed one): not worth it
    if any(bind.type._cached_bind_processor(_POSITIONAL) for bind in binds):
        return None
    fields = list(statement.selected_columns.keys())
    try:
        row = collections.namedtuple("Row", fields)  # type: ignore[misc]
    except ValueError:  # a name that is no attribute name (or twice the same): a Core row
        return None
    return _Shape(
        sql=compiled.string,
        order=tuple(index[bind.key] for bind in binds),
        make=row._make,
        fields=len(fields),
    )


def _processors(
    cursor: Any, statement: AnySelect, fields: int
) -> list[Callable[[Any], Any] | None]:
    columns = list(statement.selected_columns)
    return [
        column.type._cached_result_processor(_POSITIONAL, described.type_code)
        for column, described in zip(columns, cursor.description[:fields], strict=True)
    ]
