"""Just enough of a PDF reader for tests: the cross-reference table must point at every object,
and the text shown on the pages (Tj strings in Flate/ASCII85 content streams) is extracted."""

from __future__ import annotations

import base64
import re
import zlib

_STREAM = re.compile(rb"<<(?P<dict>[^<>]*?)>>\s*stream\r?\n", re.S)
_LENGTH = re.compile(rb"/Length (\d+)")
_STRING = re.compile(rb"\((?P<text>(?:\\.|[^\\)])*)\)\s*Tj")


def check_structure(pdf: bytes) -> int:
    """Assert the file is well formed enough for any reader; return the number of objects."""
    assert pdf.startswith(b"%PDF-1.")
    assert pdf.rstrip().endswith(b"%%EOF")
    xref_at = int(pdf[pdf.rindex(b"startxref") + 9 :].split()[0])
    assert pdf[xref_at:].startswith(b"xref")
    lines = pdf[xref_at:].split(b"\n")
    first, count = (int(x) for x in lines[1].split())
    entries = lines[2 : 2 + count]
    for number, entry in enumerate(entries, start=first):
        offset, _, kind = entry.split()[:3]
        if kind == b"n":
            assert pdf[int(offset) :].startswith(b"%d 0 obj" % number), number
    return count - 1


def page_count(pdf: bytes) -> int:
    return max(int(n) for n in re.findall(rb"/Count (\d+)", pdf))


def _decoded(dictionary: bytes, data: bytes) -> bytes:
    if b"ASCII85Decode" in dictionary:
        data = base64.a85decode(data.strip().removesuffix(b"~>"))
    if b"FlateDecode" in dictionary:
        data = zlib.decompress(data)
    return data


def _unescape(raw: bytes) -> str:
    out = re.sub(rb"\\([\\()])", rb"\1", raw)
    return out.decode("cp1252")


def text(pdf: bytes) -> str:
    """The strings shown on every page, one per line, in drawing order."""
    shown = []
    for match in _STREAM.finditer(pdf):
        length = _LENGTH.search(match["dict"])
        assert length is not None
        data = pdf[match.end() : match.end() + int(length[1])]
        content = _decoded(match["dict"], data)
        shown += [_unescape(m["text"]) for m in _STRING.finditer(content)]
    return "\n".join(shown)
