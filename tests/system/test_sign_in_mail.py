"""The invitation and reset mails end to end: a real web process sends the invitation, a real
worker writes the `.eml`, and the link in it is followed over HTTP to a signed-in session."""

from __future__ import annotations

import email
import email.policy
import re
from pathlib import Path

import httpx
import psycopg
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prorata.notifications.tasks import REDACTED_BODY
from tests import servers
from tests.conftest import create_org
from tests.sign_in_support import NEW_PASSWORD, PASSWORD, hidden_token
from tests.support import TestDatabase, bearer, free_port, wait_until


def _link_in_mail(folder: Path, recipient: str, number: int) -> str:
    """The link in the `number`th `.eml` to `recipient` in `folder` (waiting for the worker;
    files are named by the time they were written)."""

    def mails() -> list[email.message.EmailMessage]:
        found = []
        for path in sorted(folder.glob("*.eml")):
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            if message["To"] == recipient:
                found.append(message)
        return found

    wait_until(lambda: len(mails()) >= number, timeout=60, what=f"mail {number} to {recipient}")
    body = mails()[number - 1].get_body(("plain",))
    assert body is not None
    found = re.search(r"https?://\S+", body.get_content())
    assert found
    return found.group(0)


async def test_invitation_and_reset_links_are_followed_from_the_mail_files(
    database: TestDatabase, tmp_path: Path, sessions: async_sessionmaker[AsyncSession]
) -> None:
    org = await create_org(sessions, "Mail Org", "owner@mail.example")
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    data_dir = tmp_path / "var"
    env = {"PRORATA_PORT": str(port), "PRORATA_PUBLIC_URL": public}
    with (
        servers.web(database, tmp_path / "web.log", **env) as base,
        servers.worker(database, tmp_path / "worker.log", PRORATA_DATA_DIR=str(data_dir)),
        httpx.Client(base_url=base) as browser,
    ):
        invited = httpx.post(
            f"{base}/api/v1/invitations",
            json={"email": "partner@mail.example", "role": "manager"},
            headers=bearer(org.api_key),
        )
        assert invited.status_code == 201, invited.text
        link = _link_in_mail(data_dir / "mail", "partner@mail.example", 1)
        assert link.startswith(f"{public}/invitations/")
        page = browser.get(link)
        assert page.status_code == 200
        joined = browser.post(
            link, data={"password": PASSWORD, "csrf_token": hidden_token(page.text)}
        )
        assert joined.status_code == 303
        assert browser.get("/api/v1/me").json()["user"]["email"] == "partner@mail.example"

        browser.cookies.clear()
        form = browser.get("/password-reset")
        asked = browser.post(
            "/password-reset",
            data={"email": "partner@mail.example", "csrf_token": hidden_token(form.text)},
        )
        assert asked.status_code == 200
        link = _link_in_mail(data_dir / "mail", "partner@mail.example", 2)
        assert link.startswith(f"{public}/password-reset/")
        page = browser.get(link)
        reset = browser.post(
            link, data={"password": NEW_PASSWORD, "csrf_token": hidden_token(page.text)}
        )
        assert reset.headers["location"] == "/login?done=reset"
        form = browser.get("/login")
        signed_in = browser.post(
            "/login",
            data={
                "email": "partner@mail.example",
                "password": NEW_PASSWORD,
                "csrf_token": hidden_token(form.text),
            },
        )
        assert signed_in.status_code == 303
        assert browser.get("/").status_code == 200

        def all_sent() -> bool:
            with psycopg.connect(database.owner_url) as conn:
                rows = conn.execute("SELECT status, body FROM email_outbox").fetchall()
            return len(rows) == 2 and all(
                status == "sent" and body == REDACTED_BODY for status, body in rows
            )

        # Once sent, the outbox keeps no usable link.
        wait_until(all_sent, timeout=30, what="both mails sent and redacted")
