"""A document's download name is quoted whatever it holds (the S3 and local downloads' header)."""

from __future__ import annotations

from prorata.platform import storage


def test_a_download_name_is_quoted_whatever_it_holds() -> None:
    assert storage.content_disposition("notice.pdf") == 'attachment; filename="notice.pdf"'
    # Quotes, a backslash and a line break cannot end the value or start another header.
    assert storage.content_disposition('Q1 "final"\\\r\n.pdf') == (
        "attachment; filename=\"Q1 _final____.pdf\"; filename*=UTF-8''Q1%20%22final%22%5C%0D%0A.pdf"
    )
    assert storage.content_disposition("Fonds Été.pdf") == (
        "attachment; filename=\"Fonds _t_.pdf\"; filename*=UTF-8''Fonds%20%C3%89t%C3%A9.pdf"
    )
