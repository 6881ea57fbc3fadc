"""A database host that never answers fails a connection in bounded time (no database needed)."""

from __future__ import annotations

import asyncio
import socket

import pytest
import sqlalchemy as sa

from prorata.platform import db


async def test_a_database_host_that_never_answers_fails_a_connection_in_bounded_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A listener that accepts and never answers stands for a host dropping packets: without
    libpq's connect_timeout the connection (and whatever waits for it) would hang for minutes."""
    monkeypatch.setattr(db, "CONNECT_TIMEOUT_SECONDS", 1)
    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        engine = db.create_engine(f"postgresql://prorata_app:x@127.0.0.1:{port}/nowhere")
        try:
            with pytest.raises(sa.exc.OperationalError, match="timeout"):
                async with asyncio.timeout(30), engine.connect():
                    pass
        finally:
            await engine.dispose()
