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


def _every_pattern_scrub(redactor_secrets: list[str], text: str) -> str:
    """The redactor as it was before its shortcuts: every pattern on every text, the key=value
    pattern unanchored."""
    import re

    from prorata.observability import logs

    for secret in sorted({s for s in redactor_secrets if len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, logs.REDACTED)
    text = logs._URL_PASSWORD.sub(lambda m: m.group("head") + logs.REDACTED, text)
    text = logs._BEARER.sub(lambda m: m.group(1) + logs.REDACTED, text)
    text = logs._API_KEY.sub(logs.REDACTED, text)
    text = logs._LINK_TOKEN.sub(rf"\g<1>{logs.REDACTED}", text)
    pair = re.compile(rf"(?i)([\w.-]*(?:{logs._SECRET_KEY.pattern})[\w.-]*=)[^&\s]+")
    text = pair.sub(rf"\g<1>{logs.REDACTED}", text)
    for _, data in logs._PG_DATA:
        text = data.sub(rf"\g<1>{logs.REDACTED}\g<2>", text)
    return logs._EMAIL.sub("[EMAIL]", text)


_PIECES = [
    "SELECT allocations.fund_id FROM allocations WHERE allocations.fund_id = %(fund_id_1)s",
    "postgresql://u:pw@h/db",
    "HTTPS://user:p%40ss@host:5432",
    "Bearer abc.def",
    "BEARER x",
    "prk_abcdefghijklmnopqrst",
    "/invitations/" + "a" * 43,
    "/password-reset/" + "b" * 43,
    "?access_token=t0k&x=1",
    "DB_PASSWORD=hunter2",
    "x.Api-Key=v",
    "apikey=v",
    "paſſword=x",  # a long s: IGNORECASE folds it to s
    "\u212aey=v",  # a Kelvin sign: IGNORECASE folds it to k
    "lp@example.com",
    "lp%40example.com",
    "x@a.b_c@d.e",
    "Key (org_id, email)=(1, a@b.co) already exists",
    "Failing row contains (7, Jane Roe).",
    'line 2: "Jane,Roe"',
    'for type numeric: "Jane"',
    "the-known-secret",
    "=",
    "@",
    ': "',
    "é",
    "_",
    ".",
    "-",
    " ",
    "&",
]


def test_the_redactors_shortcuts_change_no_result() -> None:
    """scrub tries a pattern only when the text holds what any match of it needs, and anchors
    the key=value pattern where a name starts: for each text, the same result as every pattern
    run unconditionally (fixed cases, then random mixes of the pieces that make them match)."""
    import random

    secrets = ["the-known-secret"]
    redactor = Redactor(secrets)
    texts = list(_PIECES)
    rng = random.Random(21)
    for _ in range(3000):
        texts.append("".join(rng.choice(_PIECES) for _ in range(rng.randint(2, 6))))
    for _ in range(3000):  # splice pieces without separators, cut anywhere
        text = "".join(rng.choice(_PIECES) for _ in range(4))
        start = rng.randint(0, len(text))
        texts.append(text[start:] + text[: rng.randint(0, len(text))])
    for text in texts:
        assert redactor.scrub(text) == _every_pattern_scrub(secrets, text), text
    assert redactor.scrub("paſſword=x") == "paſſword=[REDACTED]"


def test_a_remembering_redactor_gives_what_a_plain_one_gives() -> None:
    """`Redactor(remember=n)` keeps the scrubbed form of short texts: each event, redacted twice
    (the second time from what it remembers, or after its oldest were forgotten), comes out as
    the plain redactor makes it; a secret's key masks the value whatever its text."""
    import random

    from prorata.observability.logs import REMEMBERED_LENGTH

    secrets = ["the-known-secret"]
    plain, remembering = Redactor(secrets), Redactor(secrets, remember=64)
    rng = random.Random(7)
    events = [
        {
            "db.statement": "".join(rng.choice(_PIECES) for _ in range(rng.randint(1, 4))),
            "api_key": rng.choice(_PIECES),
            "tags": (rng.choice(_PIECES), rng.choice(_PIECES)),
            "long": rng.choice(_PIECES) * (REMEMBERED_LENGTH // 4),
        }
        for _ in range(500)
    ]
    for _ in range(2):
        for event in events:
            assert remembering(None, "", dict(event)) == plain(None, "", dict(event))
    assert remembering(None, "", {"api_key": "SELECT 1"}) == {"api_key": "[REDACTED]"}
    assert remembering(None, "", {"statement": "SELECT 1"}) == {"statement": "SELECT 1"}
