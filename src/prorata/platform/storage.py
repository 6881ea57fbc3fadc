"""Object storage for files (uploads, rendered documents): obstore over a local directory or S3.

File content lives in the object store, never in a database row; the `blobs` table keeps what
the database needs to find and trust a file: its key, size, SHA-256, content type and org.

- `open_store(settings)`: `LocalStore` under `PRORATA_DATA_DIR/blobs` by default, or the store
  named by `PRORATA_BLOB_URL` (`s3://bucket/prefix`; credentials, region and endpoint come from
  the standard `AWS_*` variables, which obstore reads itself).
- `BlobStore.put` streams from bytes, a file, a path or an (async) iterator of chunks, hashing
  as it goes, in parts (S3 multipart) so memory stays bounded whatever the size.
- `BlobStore.stream` reads back in chunks; `BlobStore.presigned_url` signs a time-limited GET
  URL where the store can (S3), so clients download without passing through the API.
- `save` = `put` + `record` (the `Blob` row) — the usual way to keep a file.
- `sweep_unreferenced` deletes old objects no `Blob` row names (an upload whose transaction
  rolled back, a document whose job failed after writing it); the worker runs it hourly.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import datetime as dt
import hashlib
import io
import logging
import urllib.parse
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, cast

import obstore
import sqlalchemy as sa
from obstore.exceptions import GenericError, PermissionDeniedError, UnauthenticatedError
from obstore.store import LocalStore, S3Store, from_url
from opentelemetry import trace
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from prorata.config import Settings, SettingsError
from prorata.observability import tracing
from prorata.platform import db, errors
from prorata.platform.ids import new_id

if TYPE_CHECKING:
    from obstore import ObjectMeta
    from obstore.store import ClientConfig, ObjectStore, RetryConfig

log = logging.getLogger(__name__)

# S3 parts of 8 MiB, two in flight: a put holds at most ~16 MiB whatever the object's size
# (obstore's default, 12 parts in flight, would hold 60 MiB per upload).
PART_SIZE = 8 * 1024 * 1024
PARTS_IN_FLIGHT = 2
READ_CHUNK = 1024 * 1024
# An object is written before the transaction recording its `Blob` row commits: only objects
# older than this can be taken for orphans (no transaction or job runs for a day).
UNREFERENCED_AFTER = dt.timedelta(hours=24)
# A store that does not answer is given up on after seconds, not obstore's 3 minutes of
# retries: a request (an upload) or a job must hear of the outage while it can still say so.
S3_CLIENT: ClientConfig = {"connect_timeout": dt.timedelta(seconds=5)}
S3_RETRIES: RetryConfig = {"max_retries": 3, "retry_timeout": dt.timedelta(seconds=15)}
STORE_RETRY_AFTER_SECONDS = 10

Source = bytes | Path | IO[bytes] | AsyncIterable[bytes] | Iterable[bytes]


class Blob(db.Base):
    """A file in the object store. Content is never stored here: only how to find and check it."""

    __tablename__ = "blobs"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("orgs.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(sa.String(1024), unique=True)
    size: Mapped[int] = mapped_column(sa.BigInteger)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    content_type: Mapped[str] = mapped_column(sa.String(255))
    created_at: Mapped[dt.datetime] = mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.now()
    )


@dataclasses.dataclass(frozen=True)
class Stored:
    """What a put wrote: enough to record the `Blob` row."""

    key: str
    size: int
    sha256: str
    content_type: str


class BlobNotFound(LookupError):
    pass


class StoreRefused(errors.ServiceUnavailable):
    """The object store refused the server's credentials (a wrong or expired secret): the
    operator's to fix, so a client gets a 503 saying so rather than a bare 500."""

    def __init__(self) -> None:
        super().__init__("the object store refused the server's credentials; try again later")


class BlobStore:
    """One object store (local directory or S3 bucket prefix); safe to share in a process."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    @contextlib.contextmanager
    def _span(self, operation: str) -> Iterator[trace.Span]:
        """A client span per call to the store, so a trace shows the time spent on S3. No key:
        keys hold only ids, but the attribute would invite a file name next to them."""
        store = "s3" if isinstance(self.store, S3Store) else "local"
        with tracing.span(
            f"blob {operation}",
            kind=trace.SpanKind.CLIENT,
            attributes={"prorata.blob.store": store},
        ) as span:
            try:
                yield span
            except (PermissionDeniedError, UnauthenticatedError) as exc:
                # The store's own words (SignatureDoesNotMatch, InvalidAccessKeyId …) go to
                # the log, where the operator looks; they hold no secret.
                log.error("object store refused the credentials", extra={"error": str(exc)})
                raise StoreRefused() from exc
            except GenericError as exc:
                # Connection refused, timeouts and 5xx answers, after obstore's own retries:
                # the store is down or unreachable, which waiting (and a 503) answers.
                log.warning("object store unavailable", extra={"error": str(exc)[:300]})
                raise errors.unavailable(
                    "the object store", retry_after=STORE_RETRY_AFTER_SECONDS
                ) from exc

    @property
    def signs_urls(self) -> bool:
        return isinstance(self.store, S3Store)

    async def put(
        self, key: str, source: Source, *, content_type: str, filename: str | None = None
    ) -> Stored:
        """Write `source` at `key`, streaming and hashing it; atomic (all or nothing).

        `filename` is the name a download should be saved under: S3 keeps it with the object,
        so a presigned URL's download has it too (a signed URL cannot carry it)."""
        digest = hashlib.sha256()
        size = 0

        async def hashed() -> AsyncIterator[bytes]:
            nonlocal size
            async for chunk in _chunks(source):
                digest.update(chunk)
                size += len(chunk)
                yield chunk

        # Local files carry no attributes (obstore refuses them): the Blob row keeps the type.
        attributes: Any = None
        if not isinstance(self.store, LocalStore):
            attributes = {"Content-Type": content_type}
            if filename is not None:
                attributes["Content-Disposition"] = content_disposition(filename)
        with self._span("put") as span:
            await obstore.put_async(
                self.store,
                key,
                hashed(),
                attributes=attributes,
                chunk_size=PART_SIZE,
                max_concurrency=PARTS_IN_FLIGHT,
            )
            span.set_attribute("prorata.blob.bytes", size)
        return Stored(key=key, size=size, sha256=digest.hexdigest(), content_type=content_type)

    async def stream(self, key: str, *, chunk_size: int = READ_CHUNK) -> AsyncIterator[bytes]:
        """The object's bytes in chunks of about `chunk_size` (never the whole object at once)."""
        try:
            with self._span("get"):  # the request; the body then streams outside the span
                result = await obstore.get_async(self.store, key)
        except FileNotFoundError as exc:
            raise BlobNotFound(key) from exc
        async for chunk in result.stream(min_chunk_size=chunk_size):
            yield bytes(chunk)

    async def read(self, key: str) -> bytes:
        """The whole object, for small ones (a rendered notice): prefer `stream` otherwise."""
        return b"".join([chunk async for chunk in self.stream(key)])

    async def size(self, key: str) -> int:
        try:
            with self._span("head"):
                meta = await obstore.head_async(self.store, key)
        except FileNotFoundError as exc:
            raise BlobNotFound(key) from exc
        return int(meta["size"])

    async def delete(self, key: str) -> None:
        """Remove the object; removing one that is not there is not an error."""
        try:
            with self._span("delete"):
                await obstore.delete_async(self.store, key)
        except FileNotFoundError:
            return

    async def listing(self, *, batch: int = 1000) -> AsyncIterator[Sequence[ObjectMeta]]:
        """Every object's key (`path`), size and `last_modified`, in batches, in no order."""
        async for found in obstore.list(self.store, chunk_size=batch):
            yield found

    async def presigned_url(self, key: str, *, expires_in: dt.timedelta) -> str | None:
        """A GET URL valid for `expires_in`, or None where the store cannot sign (local
        directory): the caller then streams the file itself."""
        if not isinstance(self.store, S3Store):
            return None
        return await obstore.sign_async(self.store, "GET", key, expires_in)


async def _chunks(source: Source) -> AsyncIterator[bytes]:
    if isinstance(source, bytes):
        for start in range(0, len(source), READ_CHUNK):
            yield source[start : start + READ_CHUNK]
    elif isinstance(source, Path):
        with source.open("rb") as file:
            async for chunk in _file_chunks(file):
                yield chunk
    elif isinstance(source, AsyncIterable):
        async for chunk in source:
            yield bytes(chunk)
    elif isinstance(source, io.IOBase):  # files opened "rb", BytesIO, spooled temporary files
        async for chunk in _file_chunks(cast(IO[bytes], source)):
            yield chunk
    else:
        for chunk in source:
            yield bytes(chunk)


async def _file_chunks(file: IO[bytes]) -> AsyncIterator[bytes]:
    while chunk := await asyncio.to_thread(file.read, READ_CHUNK):
        yield chunk


def content_disposition(filename: str, *, inline: bool = False) -> str:
    """`attachment` (or `inline`: shown by the browser) under `filename`, whatever it holds: an
    ASCII `filename` with quotes, backslashes and anything else unsafe replaced, and the exact
    name in `filename*` (RFC 6266, RFC 8187) when they differ."""
    fallback = "".join(c if " " <= c <= "~" and c not in '"\\' else "_" for c in filename)
    value = f'{"inline" if inline else "attachment"}; filename="{fallback}"'
    if fallback != filename:
        value += f"; filename*=UTF-8''{urllib.parse.quote(filename, safe='')}"
    return value


def open_store(settings: Settings) -> BlobStore:
    """The configured store: `PRORATA_BLOB_URL`, else a local directory under the data dir."""
    if settings.blob_url is None:
        return BlobStore(LocalStore(settings.data_dir.resolve() / "blobs", mkdir=True))
    if settings.blob_url.startswith("file://"):
        return BlobStore(LocalStore.from_url(settings.blob_url, mkdir=True))
    if settings.blob_url.startswith("s3://"):
        # Our client options replace those obstore would read from the environment.
        client: ClientConfig = {**S3_CLIENT, "allow_http": settings.aws_allow_http}
        return BlobStore(
            from_url(settings.blob_url, client_options=client, retry_config=S3_RETRIES)
        )
    raise SettingsError("PRORATA_BLOB_URL must start with file:// or s3://")


def new_key(*, org_id: uuid.UUID, purpose: str, suffix: str = "") -> str:
    """A fresh, unguessable key, grouped by organisation and purpose: `<org>/<purpose>/<id>`."""
    return f"{org_id}/{purpose}/{new_id()}{suffix}"


async def record(session: AsyncSession, *, org_id: uuid.UUID, stored: Stored) -> Blob:
    """The `Blob` row of an object just written, in the caller's transaction."""
    blob = Blob(
        org_id=org_id,
        key=stored.key,
        size=stored.size,
        sha256=stored.sha256,
        content_type=stored.content_type,
    )
    session.add(blob)
    await session.flush()
    return blob


async def save(
    session: AsyncSession,
    store: BlobStore,
    *,
    org_id: uuid.UUID,
    purpose: str,
    source: Source,
    content_type: str,
    suffix: str = "",
    filename: str | None = None,
) -> Blob:
    """Stream `source` into the store and record its `Blob` row (flushed, not committed).

    If the transaction later rolls back, the object stays behind unreferenced: harmless (keys
    are never reused), and cheaper than a two-phase protocol.
    """
    key = new_key(org_id=org_id, purpose=purpose, suffix=suffix)
    stored = await store.put(key, source, content_type=content_type, filename=filename)
    return await record(session, org_id=org_id, stored=stored)


async def get(session: AsyncSession, *, blob_id: uuid.UUID) -> Blob | None:
    return await session.get(Blob, blob_id)


@dataclasses.dataclass
class Swept:
    objects: int = 0
    bytes: int = 0


async def sweep_unreferenced(
    store: BlobStore,
    sessions: async_sessionmaker[AsyncSession],
    *,
    written_before: dt.datetime,
) -> Swept:
    """Delete the objects written before `written_before` that no `Blob` row names.

    Each key's organisation (`<org>/...`, see `new_key`) is asked under its own tenant, so RLS
    never hides a row and a referenced object is never taken for an orphan. Keys of any other
    form are not ours (a bucket prefix shared with something else) and stay.
    """
    swept = Swept()
    async for found in store.listing():
        sizes_by_org: dict[uuid.UUID, dict[str, int]] = collections.defaultdict(dict)
        for meta in found:
            org_id = _org_of(meta["path"])
            if org_id is not None and meta["last_modified"] < written_before:
                sizes_by_org[org_id][meta["path"]] = meta["size"]
        for org_id, sizes in sizes_by_org.items():
            for key in await _unrecorded(sessions, org_id, sizes):
                await store.delete(key)
                swept.objects += 1
                swept.bytes += sizes[key]
    return swept


async def _unrecorded(
    sessions: async_sessionmaker[AsyncSession], org_id: uuid.UUID, keys: Iterable[str]
) -> list[str]:
    wanted = list(keys)
    async with db.tenant_transaction(sessions, org_id) as session:
        recorded = set(await session.scalars(sa.select(Blob.key).where(Blob.key.in_(wanted))))
    return [key for key in wanted if key not in recorded]


def _org_of(key: str) -> uuid.UUID | None:
    """The organisation of a key `new_key` made, or None for any other key."""
    head, separator, _ = key.partition("/")
    try:
        org_id = uuid.UUID(head)
    except ValueError:
        return None
    return org_id if separator and str(org_id) == head else None
