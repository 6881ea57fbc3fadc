"""Idempotency keys on every mutating route (draft-ietf-httpapi-idempotency-key-header,
with Stripe's semantics), applied by `routing.ApiRoute`, never by a route itself.

- Key: header `Idempotency-Key`, 1–255 printable ASCII characters; scoped to (org, user, key).
- Fingerprint: method + path (alias-normalised) + sorted query + canonical JSON of the body
  (SHA-256 of any non-JSON body).
- The first successful execution stores status, the headers that matter and the body in the
  SAME transaction as its writes: both exist or neither does. A failed one stores nothing.
- Same key + same fingerprint → the stored response, byte for byte, `Idempotent-Replayed: true`.
- Same key + another fingerprint → 422. Same key while the first is running → 409 + Retry-After
  (a transaction-scoped advisory lock tells "running" apart without committing anything early).
- Records expire after 24 h; `housekeeping.purge_idempotency_keys` deletes them.
- A secret shown once (a new API key, a webhook's signing secret: the route policy's
  `shown_once` field) is never stored: the replay says the request succeeded and what it
  created, with null in the secret's place. A client that lost the first answer revokes what
  it created and makes another; the database never holds the secret in clear.
- Streamed uploads (routes whose policy says `upload`) are never read into memory to be
  fingerprinted: the guard claims the key, and the handler, once it has streamed the file,
  calls `settle` with the file's SHA-256, which replays, refuses or lets it proceed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import re
import uuid
from typing import Any

import sqlalchemy as sa
from fastapi import Request, Response
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from prorata.platform import errors
from prorata.platform.db import Base

HEADER = "Idempotency-Key"
RETENTION = dt.timedelta(hours=24)
WELL_FORMED_KEY = re.compile(r"^[\x20-\x7e]{1,255}$")
# Response headers worth replaying; the rest (request id, rate limits, date) belong to the
# request that replays.
_REPLAYED_HEADERS = ("content-type", "location", "content-location")


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_keys"

    org_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("orgs.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(sa.String(64))
    status_code: Mapped[int] = mapped_column(sa.SmallInteger)
    headers: Mapped[dict[str, str]] = mapped_column(JSONB)
    body: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[dt.datetime] = mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.now(), index=True
    )


class Replay(Exception):
    """Raised by the guard to short-circuit the handler with a stored response."""

    def __init__(self, response: Response) -> None:
        super().__init__("idempotent replay")
        self.response = response


@dataclasses.dataclass(frozen=True)
class Pending:
    """A key being executed in this request: stored with the response if it succeeds.

    `fingerprint` is None for a streamed upload until `settle` has seen the file's digest;
    `stored` is the record already kept under this key, if any (it decides replay vs 422).
    """

    org_id: uuid.UUID
    user_id: uuid.UUID
    key: str
    fingerprint: str | None
    stored: IdempotencyRecord | None = None


def read_key(request: Request) -> str | None:
    value = request.headers.get(HEADER)
    if value is None:
        return None
    if not WELL_FORMED_KEY.match(value):
        raise errors.BadRequest(
            f"{HEADER} must be 1 to 255 printable ASCII characters", title="Malformed header"
        )
    return value


def _canonical_path(path: str) -> str:
    for prefix in ("/api/v1/", "/api/"):
        if path.startswith(prefix):
            return path[len(prefix) - 1 :]
    return path


async def fingerprint(request: Request, *, body_digest: str | None = None) -> str:
    """What makes two requests "the same": method, path, sorted query and the body (canonical
    JSON, else its SHA-256 — for a streamed upload, `body_digest`: the file's SHA-256)."""
    canonical: bytes
    if body_digest is not None:
        canonical = body_digest.encode()
    else:
        canonical = _canonical_body(await request.body(), request.headers.get("content-type", ""))
    query = "&".join(sorted(request.url.query.split("&"))) if request.url.query else ""
    digest = hashlib.sha256()
    for part in (
        request.method.encode(),
        _canonical_path(request.url.path).encode(),
        query.encode(),
        canonical,
    ):
        digest.update(len(part).to_bytes(8, "big") + part)
    return digest.hexdigest()


def _canonical_body(body: bytes, content_type: str) -> bytes:
    if content_type.startswith("application/json") and body:
        try:
            return json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
        except (ValueError, RecursionError):
            # Invalid JSON is rejected by validation, and then not stored. Nesting too deep for
            # the parser reaches here only on routes that take no body (FastAPI never parses
            # it): the raw bytes identify it as well.
            return body
    return hashlib.sha256(body).hexdigest().encode()


def _lock_id(org_id: uuid.UUID, user_id: uuid.UUID, key: str) -> int:
    digest = hashlib.sha256(f"{org_id}:{user_id}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


async def begin(
    session: AsyncSession,
    *,
    request: Request,
    org_id: uuid.UUID,
    user_id: uuid.UUID,
    key: str,
    streamed: bool = False,
) -> Pending:
    """Claim `key` for this transaction, or raise `Replay` / 409 / 422.

    With `streamed`, the body is not read: the handler calls `settle` once it has the digest.
    """
    locked = await session.scalar(
        sa.select(sa.func.pg_try_advisory_xact_lock(_lock_id(org_id, user_id, key)))
    )
    if not locked:
        raise errors.Conflict(
            "a request with this Idempotency-Key is still being processed; retry shortly",
            title="Request in progress",
            headers={"Retry-After": "1"},
        )
    record = await session.get(IdempotencyRecord, (org_id, user_id, key))
    if record is not None and record.created_at < _now() - RETENTION:
        await session.delete(record)  # expired: the key is free again
        await session.flush()
        record = None
    pending = Pending(org_id=org_id, user_id=user_id, key=key, fingerprint=None, stored=record)
    if streamed:
        return pending
    return _decide(pending, await fingerprint(request))


async def settle(request: Request, *, body_digest: str) -> None:
    """For a streamed upload: now that the file's digest is known, replay the stored response
    (`Replay`), refuse a reused key (422), or let the request proceed. No key: nothing to do."""
    pending: Pending | None = getattr(request.state, "idempotency", None)
    if pending is None or pending.fingerprint is not None:
        return
    request.state.idempotency = _decide(
        pending, await fingerprint(request, body_digest=body_digest)
    )


def _decide(pending: Pending, print_: str) -> Pending:
    record = pending.stored
    if record is None:
        return dataclasses.replace(pending, fingerprint=print_)
    if record.fingerprint != print_:
        raise errors.Unprocessable(
            "this Idempotency-Key was already used with a different request",
            title="Idempotency key reused",
        )
    raise Replay(_replayed(record))


def _replayed(record: IdempotencyRecord) -> Response:
    headers = {**record.headers, "Idempotent-Replayed": "true"}
    return Response(
        content=record.body.encode(),
        status_code=record.status_code,
        headers=headers,
        media_type=None,
    )


async def complete(
    session: AsyncSession, pending: Pending, response: Response, *, shown_once: str | None = None
) -> None:
    """Store the response of a successful execution, in the transaction that made its writes
    (without the secret in field `shown_once`, if the route has one)."""
    if pending.fingerprint is None:
        # A streamed upload that answered before `settle` (refused before its file was read):
        # there is nothing to replay.
        return
    body = bytes(getattr(response, "body", b""))
    if shown_once is not None:
        body = _without_secret(body, shown_once)
    session.add(
        IdempotencyRecord(
            org_id=pending.org_id,
            user_id=pending.user_id,
            key=pending.key,
            fingerprint=pending.fingerprint,
            status_code=response.status_code,
            headers={
                name: value
                for name, value in response.headers.items()
                if name.lower() in _REPLAYED_HEADERS
            },
            body=body.decode(),
        )
    )
    await session.flush()


def _without_secret(body: bytes, field: str) -> bytes:
    shown: dict[str, Any] = json.loads(body)
    return json.dumps({**shown, field: None}, separators=(",", ":")).encode()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def purge_expired(session: AsyncSession) -> int:
    """Delete every record older than the retention, whatever its organisation.

    The statement has no WHERE clause on purpose: with no tenant set, the `purge_expired` RLS
    policy (DELETE only, `created_at` older than 24 h) is the filter. A WHERE clause would make
    PostgreSQL apply the SELECT policies too, which show no row without a tenant.
    """
    await session.execute(sa.text("SELECT set_config('app.org_id', '', true)"))
    result = await session.execute(sa.text("DELETE FROM idempotency_keys"))
    return int(getattr(result, "rowcount", 0) or 0)


def describe() -> dict[str, Any]:
    """The OpenAPI description of the header, shown on every mutating operation."""
    return {
        "name": HEADER,
        "in": "header",
        "schema": {
            "type": "string",
            "minLength": 1,
            "maxLength": 255,
            "pattern": "^[ -~]+$",
        },
    }
