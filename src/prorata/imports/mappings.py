"""Column mappings saved per organisation and import kind (`/import-mappings`), and which
mapping an upload reads its header with.

The rule an upload follows: the `mapping` it sends; else the saved mapping `mapping_id` names;
else the organisation's default mapping of that kind, if it has one; else none (the file's
headers are read by name and alias only). A mapping only renames the headers it names, so a
default mapping never stops a file with our own column names from importing.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from prorata.http.pagination import Page, PageParams, keyset
from prorata.http.tenancy import Principal
from prorata.imports import formats
from prorata.imports.formats import ColumnMapping, ImportKind
from prorata.imports.models import ImportMapping
from prorata.imports.schemas import MappingIn
from prorata.platform import audit, db, errors

# The upload's `mapping` query parameter: JSON of at most this many characters.
MAX_MAPPING_PARAMETER = 8192


def parse(text: str) -> dict[str, str | None]:
    """The upload's `mapping` parameter: a JSON object of header → column (or null)."""
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict) or not all(
        isinstance(target, str | None) for target in value.values()
    ):
        raise errors.RuleViolation(
            'mapping must be a JSON object of file header → column, such as {"Investor Name": '
            '"name"} (null leaves a column out)',
            title="Invalid column mapping",
        )
    return value


async def for_upload(
    session: AsyncSession,
    *,
    kind: ImportKind,
    mapping: str | None,
    mapping_id: uuid.UUID | None,
) -> ColumnMapping | None:
    """The mapping an upload reads its header with (the rule in this module's docstring)."""
    if mapping is not None and mapping_id is not None:
        raise errors.RuleViolation("send mapping or mapping_id, not both")
    if mapping is not None:
        sent = parse(mapping)
        formats.checked_mapping(kind, sent)
        return sent
    if mapping_id is not None:
        saved = await get(session, mapping_id=mapping_id)
        if saved.kind is not kind:
            raise errors.RuleViolation(f"mapping {mapping_id} is for {saved.kind}, not {kind}")
        return saved.columns
    default = await session.scalar(
        sa.select(ImportMapping).where(ImportMapping.kind == kind, ImportMapping.is_default)
    )
    return default.columns if default is not None else None


async def create(session: AsyncSession, *, actor: Principal, data: MappingIn) -> ImportMapping:
    formats.checked_mapping(data.kind, data.columns)
    row = ImportMapping(org_id=actor.org_id, created_by=actor.user_id)
    await _save(session, row, data)
    await _audit(session, actor, "import_mapping.create", row, after=_fields(row))
    return row


async def update(
    session: AsyncSession, *, actor: Principal, mapping_id: uuid.UUID, data: MappingIn
) -> ImportMapping:
    """Replace a mapping (kind, name, columns and default, as a PUT does)."""
    formats.checked_mapping(data.kind, data.columns)
    row = await get(session, mapping_id=mapping_id)
    before = _fields(row)
    await _save(session, row, data, updated=True)
    await session.refresh(row)
    await _audit(session, actor, "import_mapping.update", row, before=before, after=_fields(row))
    return row


async def delete(session: AsyncSession, *, actor: Principal, mapping_id: uuid.UUID) -> None:
    row = await get(session, mapping_id=mapping_id)
    before = _fields(row)
    await session.delete(row)
    await session.flush()
    await _audit(session, actor, "import_mapping.delete", row, before=before)


async def get(session: AsyncSession, *, mapping_id: uuid.UUID) -> ImportMapping:
    row = await session.get(ImportMapping, mapping_id, populate_existing=True)
    if row is None:
        raise errors.NotFound("no such import mapping")
    return row


async def page(session: AsyncSession, *, params: PageParams) -> Page[ImportMapping]:
    return await keyset(
        session, sa.select(ImportMapping), key=[ImportMapping.id], params=params, item=lambda m: m
    )


async def _save(
    session: AsyncSession, row: ImportMapping, data: MappingIn, *, updated: bool = False
) -> None:
    """Write the mapping as `data` has it; as the default of its kind, the previous default
    stops being one. A name its kind has already is a 409, on a new mapping as on a changed
    one."""
    kind, name = data.kind, data.name.strip()
    if data.default:
        # Two mappings made the default at once: the second waits for the first, then takes
        # the default from it, as it would have a moment later (not a unique violation).
        await db.hold_lock(session, f"import_mappings:default:{row.org_id}:{kind}")
    try:
        # The row changes inside the savepoint: `begin_nested` flushes what is pending before
        # its SAVEPOINT, so a change made before it would be written outside it, and its
        # unique violation would break the request's transaction (a 503, not a 409).
        async with session.begin_nested():
            if data.default:
                await session.execute(
                    sa.update(ImportMapping)
                    .where(ImportMapping.kind == kind, ImportMapping.is_default)
                    .values(is_default=False)
                )
            row.kind, row.name, row.columns = kind, name, dict(data.columns)
            row.is_default = data.default
            if updated:
                row.updated_at = sa.func.now()
            session.add(row)
            await session.flush()
    except sa.exc.IntegrityError:
        raise errors.Conflict(
            f"the organisation has a {kind} mapping named {name!r} already"
        ) from None


def _fields(row: ImportMapping) -> dict[str, Any]:
    return {
        "kind": str(row.kind),
        "name": row.name,
        "columns": dict(row.columns),
        "default": row.is_default,
    }


async def _audit(
    session: AsyncSession,
    actor: Principal,
    action: str,
    row: ImportMapping,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    await audit.record(
        session,
        org_id=actor.org_id,
        actor_user_id=actor.user_id,
        action=action,
        entity="import_mapping",
        entity_id=row.id,
        before=before,
        after=after,
    )
