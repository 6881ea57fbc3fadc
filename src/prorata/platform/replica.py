"""The read replica: where heavy reads go while it keeps up with the primary.

A streaming replica (`PRORATA_REPLICA_DATABASE_URL`, the app role, so RLS holds there as on the
primary) answers the reads marked heavy (`prorata.http.reads`, and the report and statement
jobs through `jobs.reads_of`) when two things hold, else the primary answers them:

1. its replay lag is within `PRORATA_REPLICA_MAX_LAG_SECONDS`. The lag is measured by WAL
   position first: a replica that has replayed everything the primary has written lags by
   nothing, however long ago the last commit was (`now() - pg_last_xact_replay_timestamp()`
   alone grows on an idle primary). Only when WAL is pending does the age of the last replayed
   commit count. Checked at most once a second per process, not per request;
2. it has replayed the reader's own last write (read-your-writes): after a write, the caller
   is told the primary's WAL position past its commit (`written`), and until the replica's
   replay position passes it, that caller's reads go to the primary.

A replica that does not answer, or that is not in recovery (promoted, or the URL points at a
primary), is not used, and is tried again a few seconds later: the reads it would have taken
go to the primary and no one sees an error.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import math
import time
import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prorata.config import Settings
from prorata.platform import db

log = logging.getLogger(__name__)

# How long a lag reading is trusted: one check a second per process, whatever the traffic.
CHECK_EVERY_SECONDS = 1.0
# A replica that did not answer is left alone this long before it is tried again.
RETRY_DOWN_SECONDS = 5.0
# A replica that is down must not hold a request for libpq's usual ten seconds.
CONNECT_TIMEOUT_SECONDS = 2
# How long a write's mark is kept: past it, the lag bound alone keeps a reader's view recent.
MARK_SECONDS = 300.0
MAX_MARKS = 100_000
# A job waits at most this often for the replica to reach the primary's position.
POLL_SECONDS = 0.1


# Past every commit that has returned, even one made with `synchronous_commit` off: such a
# commit returns before its WAL is written out, so `pg_current_wal_lsn()` (how far WAL is
# written) can fall short of it, and a reader waiting for a replica to pass that would read
# its own write stale. The insert position is past it. At the very start of a page, though,
# the insert position names the byte after the page's header (24 bytes; 40 on a segment's
# first page, on 64-bit builds), while replay stops at the boundary, the end of the record
# before it: taken back to the boundary, or an idle replica would never be seen to pass it.
_PAST_COMMITTED = """
SELECT (CASE
    WHEN (at - '0/0') % pg_size_bytes(current_setting('wal_segment_size')) = 40 THEN at - 40
    WHEN (at - '0/0') % current_setting('wal_block_size')::int = 24 THEN at - 24
    ELSE at
END)::text
FROM (SELECT pg_current_wal_insert_lsn() AS at) AS now
"""


def parse_lsn(text: str) -> int:
    """`16/B374D848` → the WAL position as a number (comparable)."""
    high, low = text.split("/")
    return (int(high, 16) << 32) | int(low, 16)


def format_lsn(lsn: int) -> str:
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


@dataclasses.dataclass(frozen=True)
class Replay:
    """What the last check found: the replica's replayed position and its lag (None: unusable)."""

    replayed: int
    lag_seconds: float | None
    reason: str = ""

    @property
    def usable(self) -> bool:
        return self.lag_seconds is not None


NOT_CHECKED = Replay(replayed=0, lag_seconds=None, reason="not checked yet")


class WrittenMarks:
    """Each credential's last write position in this process (the cookie carries it across
    processes for clients that keep cookies). Bounded: the oldest marks go first."""

    def __init__(self) -> None:
        self._marks: collections.OrderedDict[uuid.UUID, tuple[int, float]] = (
            collections.OrderedDict()
        )

    def note(self, credential_id: uuid.UUID, lsn: int) -> None:
        self._marks.pop(credential_id, None)
        self._marks[credential_id] = (lsn, time.monotonic() + MARK_SECONDS)
        while len(self._marks) > MAX_MARKS:
            self._marks.popitem(last=False)

    def get(self, credential_id: uuid.UUID) -> int:
        found = self._marks.get(credential_id)
        if found is None:
            return 0
        lsn, until = found
        if time.monotonic() > until:
            del self._marks[credential_id]
            return 0
        return lsn


class Replica:
    """A process's replica: its engine and its freshness, checked against `primary`."""

    def __init__(
        self,
        url: str,
        *,
        primary: async_sessionmaker[AsyncSession],
        max_lag_seconds: float,
        pool_size: int,
    ) -> None:
        # Read-only by default as well as by nature: a write sent there by mistake fails
        # the same way whether or not the server is a standby.
        self.engine = db.create_engine(
            url,
            pool_size=pool_size,
            connect_args={
                "connect_timeout": CONNECT_TIMEOUT_SECONDS,
                "options": "-c default_transaction_read_only=on",
            },
        )
        self.sessions = db.sessionmaker(self.engine, read_only=True)
        self.marks = WrittenMarks()
        self.max_lag_seconds = max_lag_seconds
        self._primary = primary
        self._known = NOT_CHECKED
        self._next_check = 0.0
        self._lock = asyncio.Lock()

    async def close(self) -> None:
        await self.engine.dispose()

    async def replay(self) -> Replay:
        """The last reading, renewed when older than CHECK_EVERY_SECONDS. While one caller
        renews it the others use the reading they have rather than wait for it (all but the
        first reading: before it, they wait)."""
        first = self._known is NOT_CHECKED
        if time.monotonic() >= self._next_check and (first or not self._lock.locked()):
            async with self._lock:
                if time.monotonic() >= self._next_check:
                    await self._check()
        return self._known

    async def reader(self, *, after: int = 0) -> async_sessionmaker[AsyncSession] | None:
        """The replica's sessions when it is within the lag bound and has replayed `after`
        (the caller's last write), else None: read from the primary."""
        found = await self.replay()
        if found.usable and found.replayed >= after:
            return self.sessions
        return None

    async def caught_up(self) -> bool:
        """Whether the replica reaches what the primary has written by now, waited for at most
        the lag bound (a job: what it was asked after must be there, and it is no hurry)."""
        found = await self.replay()
        if not found.usable:
            return False
        target = await self.written()
        deadline = time.monotonic() + self.max_lag_seconds
        while True:
            try:
                replayed = await self._replayed()
            except Exception as exc:
                self._lost(exc)
                return False
            if replayed is not None and replayed >= target:
                return True
            if time.monotonic() >= deadline:
                log.info(
                    "the replica did not reach the primary's %s (at %s) within the bound: "
                    "this job reads from the primary",
                    format_lsn(target),
                    format_lsn(replayed or 0),
                )
                return False
            await asyncio.sleep(POLL_SECONDS)

    async def written(self) -> int:
        """The primary's WAL position now: past every transaction committed before the call,
        whatever `synchronous_commit` (see `_PAST_COMMITTED`)."""
        return await self._primary_position(_PAST_COMMITTED)

    async def _written_out(self) -> int:
        """How far the primary has written its WAL out: as far as a replica can have replayed."""
        return await self._primary_position("SELECT pg_current_wal_lsn()::text")

    async def _primary_position(self, query: str) -> int:
        async with self._primary() as session:
            return parse_lsn(str(await session.scalar(sa.text(query))))

    def lost(self, exc: BaseException) -> None:
        """A read found the replica unreachable: leave it until the next retry."""
        self._lost(exc)

    async def _check(self) -> None:
        try:
            primary = await self._written_out()
        except Exception as exc:  # the primary's own trouble: its requests will say so
            log.warning("replica check: the primary did not answer (%s)", type(exc).__name__)
            self._next_check = time.monotonic() + CHECK_EVERY_SECONDS
            return
        try:
            async with self.sessions() as session:
                row = (
                    await session.execute(
                        sa.text(
                            "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text, "
                            "extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8"
                        )
                    )
                ).one()
        except Exception as exc:
            self._lost(exc)
            return
        recovering, replayed_text, age = row
        if not recovering or replayed_text is None:
            self._set(Replay(0, None, "the replica is not in recovery (promoted?)"))
        else:
            replayed = parse_lsn(replayed_text)
            lag = 0.0 if replayed >= primary else (math.inf if age is None else float(age))
            if lag <= self.max_lag_seconds:
                self._set(Replay(replayed, lag))
            else:
                self._set(Replay(replayed, None, f"replay lag {lag:.1f} s over the bound"))
        self._next_check = time.monotonic() + CHECK_EVERY_SECONDS

    async def _replayed(self) -> int | None:
        async with self.sessions() as session:
            found = await session.scalar(sa.text("SELECT pg_last_wal_replay_lsn()::text"))
        return None if found is None else parse_lsn(str(found))

    def _lost(self, exc: BaseException) -> None:
        self._set(Replay(0, None, f"the replica did not answer ({type(exc).__name__})"))
        self._next_check = time.monotonic() + RETRY_DOWN_SECONDS

    def _set(self, found: Replay) -> None:
        # Said once per change, not once per check.
        if found.usable != self._known.usable or (
            not found.usable and found.reason != self._known.reason
        ):
            if found.usable:
                log.info("replica in use: heavy reads go to it")
            else:
                log.warning("replica not used: %s; reads go to the primary", found.reason)
        self._known = found


def open_replica(
    settings: Settings, *, primary: async_sessionmaker[AsyncSession], pool_size: int
) -> Replica | None:
    """The replica of the settings, or None when none is configured."""
    if settings.replica_database_url is None:
        return None
    return Replica(
        settings.replica_database_url.get_secret_value(),
        primary=primary,
        max_lag_seconds=settings.replica_max_lag_seconds,
        pool_size=pool_size,
    )


async def tenant_reads(
    sessions: async_sessionmaker[AsyncSession], org_id: uuid.UUID
) -> AsyncSession:
    """A session on `sessions` with its transaction begun and scoped to `org_id` (RLS): the
    replica's own policies are the primary's, replayed."""
    session = sessions()
    try:
        await db.set_tenant(session, org_id)
    except BaseException:
        await session.close()
        raise
    return session
