"""The route class every API router uses: the edge owns the request's transaction.

One database transaction per request, opened lazily on first use. It commits only when the
handler returned a success (status < 400), before the response leaves the process, so a client
never sees a 2xx for a write that did not commit. Services only flush.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


class RequestTransaction:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._session: AsyncSession | None = None

    def session(self) -> AsyncSession:
        if self._session is None:
            self._session = self._sessions()
        return self._session

    async def finish(self, *, commit: bool) -> None:
        if self._session is None:
            return
        try:
            if commit:
                await self._session.commit()
            else:
                await self._session.rollback()
        finally:
            await self._session.close()
            self._session = None


class ApiRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def run_in_transaction(request: Request) -> Response:
            request.state.route_template = self._template(request)
            transaction = RequestTransaction(request.app.state.sessions)
            request.state.transaction = transaction
            try:
                response = await handler(request)
            except BaseException:
                await transaction.finish(commit=False)
                raise
            await transaction.finish(commit=response.status_code < 400)
            return response

        return run_in_transaction

    def _template(self, request: Request) -> str:
        """The matched route with its mount prefix (`/api/v1/funds/{fund_id}`), for logs and
        metrics: routers are included under two prefixes, so `self.path` alone is ambiguous."""
        suffix = self.path_format.format(**request.path_params)
        path = request.url.path
        prefix = path[: -len(suffix)] if suffix and path.endswith(suffix) else ""
        return prefix + self.path_format


def request_session(request: Request) -> AsyncSession:
    """The request's session (no tenant set: use `auth.tenant_session` for tenant data)."""
    transaction: RequestTransaction = request.state.transaction
    return transaction.session()
