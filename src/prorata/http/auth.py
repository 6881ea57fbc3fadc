"""Authentication: an API key (`Authorization: Bearer`) or a browser session (the
`prorata_session` cookie) → a principal, and the tenant is set. Never both: with an
Authorization header the key alone decides.

The credential is resolved and the tenant set in the request's own transaction, so everything
the handler reads or writes afterwards is confined to the principal's organisation by RLS.
A session's state-changing requests must carry its CSRF token (`X-CSRF-Token`), and a session
still waiting for its second factor is not signed in. Failed attempts are counted per client
IP; past the `auth_failures` limit further failures from that IP get 429 instead of 401. A
valid credential is never refused by that limit: it throttles guessing, not the people who
share an address with a guesser.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import secrets
from typing import Annotated

import sqlalchemy as sa
from fastapi import Depends, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from prorata.config import Settings
from prorata.http.ratelimit import RateLimiter
from prorata.http.tenancy import Principal, Role
from prorata.http.transaction import RequestTransaction, client_ip, request_session
from prorata.platform import db, errors

SESSION_COOKIE = "prorata_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def hash_token(token: str) -> str:
    """Keys and tokens are 256 random bits, so a plain SHA-256 is enough (no slow hash)."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclasses.dataclass(frozen=True)
class SessionState:
    principal: Principal
    csrf_token: str
    second_factor_pending: bool
    must_enrol_two_factor: bool  # the org requires two-factor and this user has none yet


async def authenticate_session(
    session: AsyncSession, *, token: str, idle_minutes: int
) -> SessionState | None:
    """The live session of a cookie, or None; one round trip (`prorata_authenticate_session`,
    migration 0015) that also sets the tenant and marks the session seen."""
    row = (
        await session.execute(
            sa.text("SELECT * FROM prorata_authenticate_session(:token_hash, :idle)"),
            {"token_hash": hash_token(token), "idle": idle_minutes},
        )
    ).one_or_none()
    if row is None:
        return None
    principal = Principal(
        org_id=row.org_id,
        user_id=row.user_id,
        role=Role(row.role),
        credential_id=row.session_id,
        via_session=True,
        investor_id=row.investor_id,
        investor_ids=frozenset(row.investor_ids or ()),
    )
    return SessionState(
        principal, row.csrf_token, row.second_factor_pending, row.must_enrol_two_factor
    )


def csrf_matches(sent: str | None, expected: str) -> bool:
    return sent is not None and secrets.compare_digest(sent.encode(), expected.encode())


class KeyCache:
    """The principals of the API keys this process verified, each with the credentials' epoch
    (`auth_epoch`, migration 0041) read before verifying it.

    A known key costs one statement, the one every request needs anyway to set its tenant:
    `set_config` and the epoch together. While the epoch is unchanged, nothing that could
    end or narrow the key (revocation, a rehash, a role or investor change, removal) has
    committed anywhere since it was verified; when it moved, the key is verified again by
    `prorata_authenticate`. The bump commits with the change, so a revoked key is refused
    by the first request after the revocation, on every process: no message to wait for or
    to lose, no TTL. Only valid keys are kept (a wrong key always takes the full check), at
    most `size`, the least recently used dropped first (a busy integration's key stays kept
    however many others pass through).
    """

    def __init__(self, size: int = 10_000) -> None:
        self._size = size
        self._known: collections.OrderedDict[str, tuple[Principal, int]] = collections.OrderedDict()

    def get(self, key_hash: str) -> tuple[Principal, int] | None:
        found = self._known.get(key_hash)
        if found is not None:
            self._known.move_to_end(key_hash)
        return found

    def keep(self, key_hash: str, principal: Principal, epoch: int) -> None:
        self._known.pop(key_hash, None)
        if len(self._known) >= self._size:
            self._known.popitem(last=False)
        self._known[key_hash] = (principal, epoch)

    def forget(self, key_hash: str) -> None:
        self._known.pop(key_hash, None)


# Sent through the driver (`db.driver_connection`), in the session's transaction: the
# statement every request runs, so it skips SQLAlchemy's execution machinery.
_TENANT_AND_EPOCH = "SELECT set_config('app.org_id', %s, true), (SELECT n FROM auth_epoch)"
# The epoch is read with the statement's snapshot, taken before the function's own queries:
# a change committing in between leaves the kept epoch behind, and the next request checks
# again (never the other way round).
_AUTHENTICATE = sa.text(
    "SELECT a.*, (SELECT n FROM auth_epoch) AS epoch FROM prorata_authenticate(:key_hash) a"
)


async def authenticate_key(
    session: AsyncSession, *, key_hash: str, cache: KeyCache | None = None
) -> Principal | None:
    """The principal of an active key whose user is a member, or None; the transaction's
    tenant is set to the key's organisation when there is one.

    One round trip: with a `cache` that knows the key, setting the tenant and reading the
    credentials' epoch (see `KeyCache`); otherwise `prorata_authenticate` (migration 0004),
    which looks the key up and sets the tenant.
    """
    known = None if cache is None else cache.get(key_hash)
    if known is not None:
        principal, epoch = known
        connection = await db.driver_connection(session)
        cursor = await connection.execute(_TENANT_AND_EPOCH, (str(principal.org_id),))
        found = await cursor.fetchone()
        if found is not None and found[1] == epoch:
            return principal
        # Something changed since: verify again. (A key no longer valid leaves the tenant
        # set, but its request is refused at once: its transaction runs nothing more.)
    row = (await session.execute(_AUTHENTICATE, {"key_hash": key_hash})).one_or_none()
    if row is None:
        if cache is not None:
            cache.forget(key_hash)
        return None
    principal = Principal(
        org_id=row.org_id,
        user_id=row.user_id,
        role=Role(row.role),
        credential_id=row.api_key_id,
        investor_id=row.investor_id,
        investor_ids=frozenset(row.investor_ids or ()),
    )
    if cache is not None:
        cache.keep(key_hash, principal, row.epoch)
    return principal


_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer prk_…`")
# Documented for the API description; read from the request itself (a cookie is not a key).
_session_cookie = APIKeyCookie(
    name=SESSION_COOKIE,
    auto_error=False,
    description="A browser session (after signing in at /login); state-changing requests must "
    f"also send the session's CSRF token in `{CSRF_HEADER}`.",
)


async def _refuse(request: Request, limiter: RateLimiter, detail: str) -> errors.Unauthorized:
    request.state.rate_limit = await limiter.hit("auth_failures", client_ip(request))
    return errors.Unauthorized(detail)


async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    session: Annotated[AsyncSession, Depends(request_session)],
    _cookie: Annotated[str | None, Depends(_session_cookie)] = None,
) -> Principal:
    # Only failures are throttled: a valid key is never refused for what others sent from the
    # same address (behind a load balancer, every client shares it).
    limiter: RateLimiter = request.app.state.rate_limiter
    cookie = request.cookies.get(SESSION_COOKIE)
    # Never both: a request that sends an Authorization header is its key's alone, whatever
    # cookie the client also holds (a browser sends cookies unasked; a program means its key).
    if request.headers.get("authorization") is None and cookie is not None:
        principal = await _session_principal(request, session, limiter, cookie)
    elif credentials is None or credentials.scheme.lower() != "bearer":
        raise await _refuse(request, limiter, "a valid API key or session is required")
    else:
        found = await authenticate_key(
            session,
            key_hash=hash_token(credentials.credentials),
            cache=request.app.state.key_cache,
        )
        if found is None:
            raise await _refuse(request, limiter, "the API key is not valid")
        principal = found
    request.state.principal = principal
    return principal


async def _session_principal(
    request: Request, session: AsyncSession, limiter: RateLimiter, cookie: str
) -> Principal:
    settings: Settings = request.app.state.settings
    state = await authenticate_session(
        session, token=cookie, idle_minutes=settings.session_idle_minutes
    )
    if state is None:
        raise await _refuse(request, limiter, "the session has ended: sign in again")
    if state.second_factor_pending:
        raise await _refuse(request, limiter, "finish signing in: the two-factor code is missing")
    if state.must_enrol_two_factor:
        raise errors.Forbidden(
            "your organisation requires two-factor authentication: enable it under My account"
        )
    if request.method not in SAFE_METHODS and not csrf_matches(
        request.headers.get(CSRF_HEADER), state.csrf_token
    ):
        raise errors.Forbidden(
            f"a request made with a session must carry its CSRF token in {CSRF_HEADER}",
            title="CSRF token missing or wrong",
        )
    return state.principal


async def authenticate_request(request: Request, session: AsyncSession) -> Principal:
    """`current_principal` for a request whose dependencies never ran (see `routing`)."""
    return await current_principal(request, await _bearer(request), session)


async def request_principal(request: Request) -> Principal:
    """The principal the route's guard authenticated: `routing.ApiRoute` runs the guard (and so
    `current_principal`) before anything else on every route that is not public, and refuses
    to build a public route that asks for a principal. Handlers and dependencies take it from
    here, not from `current_principal`: FastAPI solves a dependency's whole tree again wherever
    it appears (its cached value is looked up only afterwards), and the authentication's tree
    appeared three times on a list route."""
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:  # unreachable through ApiRoute; never an anonymous principal
        raise errors.Unauthorized("a valid API key or session is required")
    return principal


async def tenant_session(request: Request) -> AsyncSession:
    """The request's session, scoped by RLS to the principal's organisation (the guard
    authenticated it, which set the tenant; see `request_principal`).

    It asks for the request alone, not for `request_principal` and `request_session` as
    dependencies: FastAPI would solve those two trees on every request of every route using
    it (~25 µs each), for what two attribute reads give. `routing.ApiRoute` counts it as
    asking for the principal (`PRINCIPAL_DEPENDENCIES`)."""
    await request_principal(request)
    transaction: RequestTransaction = request.state.transaction
    return transaction.session()


CurrentPrincipal = Annotated[Principal, Depends(request_principal)]
# The dependencies that need an authenticated principal: a public route may ask for none.
PRINCIPAL_DEPENDENCIES: set[object] = {request_principal, tenant_session}
TenantSession = Annotated[AsyncSession, Depends(tenant_session)]
