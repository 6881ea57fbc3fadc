"""The redactor: secrets, addresses and the row data PostgreSQL quotes never reach a log line."""

from __future__ import annotations

import pytest

from prorata.observability.logs import Redactor


def test_redactor_masks_secret_keys_and_url_passwords() -> None:
    redactor = Redactor(["known-secret-value"])
    event = redactor(
        None,
        "info",
        {
            "event": "x known-secret-value y",
            "Authorization": "Bearer abc",
            "nested": {"api_key": "k", "url": "postgresql://u:pw@h/db"},
            "items": ["Bearer tokentoken"],
            "exception": "Key (org_id, email)=(1, lp.one+x@fund.example.com) already exists",
            "message_id": "<0193@prorata>",
        },
    )
    assert event["event"] == "x [REDACTED] y"
    assert event["Authorization"] == "[REDACTED]"
    assert event["nested"] == {"api_key": "[REDACTED]", "url": "postgresql://u:[REDACTED]@h/db"}
    assert event["items"] == ["Bearer [REDACTED]"]
    assert event["exception"] == "Key (org_id, email)=([REDACTED]) already exists"
    assert event["message_id"] == "<0193@prorata>"


@pytest.mark.parametrize(
    ("message", "kept"),
    [
        (
            'violates check constraint "ck_kind"\n'
            "DETAIL:  Failing row contains (7, Jane Roe, TAX-98-7654321).",
            "Failing row contains ([REDACTED]).",
        ),
        (
            'violates foreign key constraint "fk_inv"\nDETAIL:  Key (investor_id)=(Jane Roe) is not'
            ' present in table "investors".',
            "Key (investor_id)=([REDACTED]) is not present",
        ),
        (
            "extra data after last expected column\nCONTEXT:  COPY import_staging, line 2: "
            '"Jane Roe,TAX-98-7654321,entity,US,x"',
            'COPY import_staging, line 2: "[REDACTED]"',
        ),
        (
            'invalid input syntax for type numeric: "Jane Roe"',
            'for type numeric: "[REDACTED]"',
        ),
    ],
)
def test_redactor_masks_the_row_data_postgresql_quotes_in_errors(message: str, kept: str) -> None:
    """A database error names its constraint, column and line, which stay; the values of the
    row (a name, a tax id, a CSV record) are personal data and do not reach logs or spans."""
    scrubbed = Redactor().scrub(message)
    assert kept in scrubbed
    assert "Jane Roe" not in scrubbed
    assert "TAX-98" not in scrubbed


def test_redactor_masks_secrets_and_addresses_in_a_query_string() -> None:
    """A server span records the query as sent, URL-encoded: `@` arrives as `%40`."""
    query = "limit=5&access_token=tok-SEKRIT-1&email=lp%40fund.example.com&api_key=abc"
    assert Redactor().scrub(query) == (
        "limit=5&access_token=[REDACTED]&email=[EMAIL]&api_key=[REDACTED]"
    )


def test_redactor_masks_the_token_of_a_one_time_link() -> None:
    token = "Zk3v9QyJ2m_Xr8T1bLw4Hc6Np0Ds5Ae7Gf2Iu9Ok-Vq"
    redactor = Redactor()
    for path in (f"/invitations/{token}", f"https://funds.example/password-reset/{token}"):
        scrubbed = redactor.scrub(path)
        assert token not in scrubbed
        assert scrubbed.endswith("/[REDACTED]")
    invitation_id = "/api/v1/invitations/01a248b5-720b-71c5-9d17-f657a0f0c214"
    assert redactor.scrub(invitation_id) == invitation_id  # an id is no secret
