"""Sending mail: SMTP when configured, otherwise `.eml` files under `<data dir>/mail`.

`make run` has no SMTP server, so mail is written where a developer can open it, and the log
says where. Recipients' addresses are personal data: logs name the message id, not the address.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.message
import logging
from pathlib import Path

import aiosmtplib
from opentelemetry.trace import SpanKind

from prorata.config import Settings
from prorata.observability import tracing

log = logging.getLogger(__name__)


def mail_dir(settings: Settings) -> Path:
    return Path(settings.data_dir) / "mail"


async def send(settings: Settings, message: email.message.EmailMessage) -> str:
    """Hand `message` over (SMTP) or write it to a file; return where it went."""
    if settings.smtp_host is None:
        return await asyncio.to_thread(_write, settings, message)
    password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
    # A client span naming the server only: never recipients, subjects or content.
    server: dict[str, str | int] = {
        "server.address": settings.smtp_host,
        "server.port": settings.smtp_port,
    }
    with tracing.span("smtp send", kind=SpanKind.CLIENT, attributes=server):
        await aiosmtplib.send(
            message,
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=password,
            use_tls=settings.smtp_security == "tls",
            start_tls=settings.smtp_security == "starttls",
            timeout=settings.smtp_timeout_seconds,
        )
    where = f"smtp://{settings.smtp_host}:{settings.smtp_port}"
    log.info("mail sent", extra={"message_id": message["Message-ID"], "via": where})
    return where


def _write(settings: Settings, message: email.message.EmailMessage) -> str:
    folder = mail_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
    ident = str(message["Message-ID"] or "").strip("<>").split("@")[0] or "message"
    path = folder / f"{stamp}-{ident}.eml"
    path.write_bytes(message.as_bytes())
    log.info(
        "mail written to a file (no SMTP server configured)",
        extra={"message_id": message["Message-ID"], "path": str(path.resolve())},
    )
    return str(path)
