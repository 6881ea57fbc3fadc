"""Reading the file of a `multipart/form-data` request as a stream, never whole in memory.

FastAPI's `UploadFile` parses the entire body (spooling it to a temporary file) before the
handler runs; this reads the request stream itself with python-multipart's push parser and
hands out the bytes of the one file field as they arrive, so they can go straight on to the
object store. Other fields are ignored, within a small bound.
"""

from __future__ import annotations

import collections
from collections.abc import AsyncIterator

from fastapi import Request
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from prorata.platform import errors

FIELD = "file"
# Text fields besides the file are not used; a client gets this much room for them.
MAX_OTHER_FIELD_BYTES = 16 * 1024
MAX_PART_HEADER_BYTES = 8 * 1024


class _Parts:
    """The parser's callbacks: collect the file field's bytes and its part headers."""

    def __init__(self) -> None:
        self.pending: collections.deque[bytes] = collections.deque()
        self.header_name = b""
        self.header_value = b""
        self.header_bytes = 0
        self.disposition = b""
        self.content_type = b""
        self.in_file = False
        self.file_seen = False
        self.file_ended = False
        self.filename: str | None = None
        self.other_bytes = 0

    def on_part_begin(self) -> None:
        self.disposition = self.content_type = b""
        self.header_bytes = 0

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._count_header(end - start)
        self.header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._count_header(end - start)
        self.header_value += data[start:end]

    def _count_header(self, size: int) -> None:
        self.header_bytes += size
        if self.header_bytes > MAX_PART_HEADER_BYTES:
            raise _malformed("a part's headers are too long")

    def on_header_end(self) -> None:
        name = self.header_name.strip().lower()
        if name == b"content-disposition":
            self.disposition = self.header_value.strip()
        elif name == b"content-type":
            self.content_type = self.header_value.strip()
        self.header_name = self.header_value = b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self.disposition)
        if options.get(b"name") != FIELD.encode():
            self.in_file = False
            return
        if self.file_seen:
            raise errors.RuleViolation(f"send one file (one {FIELD!r} field), not several")
        self.in_file = self.file_seen = True
        filename = options.get(b"filename")
        self.filename = filename.decode("utf-8", "replace")[-255:] if filename else None

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.in_file:
            self.pending.append(bytes(data[start:end]))
            return
        self.other_bytes += end - start
        if self.other_bytes > MAX_OTHER_FIELD_BYTES:
            raise errors.RuleViolation(f"only the {FIELD!r} field is read; others are too large")

    def on_part_end(self) -> None:
        if self.in_file:
            self.in_file = False
            self.file_ended = True


class FileUpload:
    """The `file` field of a multipart request: its name, first line, then its bytes."""

    def __init__(self, request: Request) -> None:
        self._request = request
        self._parts = _Parts()
        self._parser = MultipartParser(
            _boundary(request),
            {
                "on_part_begin": self._parts.on_part_begin,
                "on_part_data": self._parts.on_part_data,
                "on_part_end": self._parts.on_part_end,
                "on_header_field": self._parts.on_header_field,
                "on_header_value": self._parts.on_header_value,
                "on_header_end": self._parts.on_header_end,
                "on_headers_finished": self._parts.on_headers_finished,
            },
        )
        self._body = request.stream()
        self._buffered: list[bytes] = []
        self._body_done = False

    @property
    def filename(self) -> str | None:
        return self._parts.filename

    async def first_line(self, *, limit: int) -> bytes:
        """The file's bytes up to and including its first newline (at most `limit` bytes);
        they are kept and streamed again by `chunks`."""
        seen = b""
        while b"\n" not in seen and len(seen) <= limit:
            chunk = await self._next_file_bytes()
            if chunk is None:
                break
            self._buffered.append(chunk)
            seen += chunk
        if not self._parts.file_seen:
            raise errors.RuleViolation(
                f"send the CSV as multipart/form-data in a field named {FIELD!r}",
                title="No file",
            )
        end = seen.find(b"\n")
        return seen[: end + 1] if end >= 0 else seen[: limit + 1]

    async def chunks(self) -> AsyncIterator[bytes]:
        """Every byte of the file, in the pieces the client sent."""
        for buffered in self._buffered:
            yield buffered
        self._buffered = []
        while (chunk := await self._next_file_bytes()) is not None:
            yield chunk

    async def _next_file_bytes(self) -> bytes | None:
        """The next piece of the file field, or None once the file (or the body) has ended."""
        while not self._parts.pending:
            if self._parts.file_ended or self._body_done:
                return None
            try:
                chunk = await anext(self._body)
            except StopAsyncIteration:
                self._body_done = True
                self._finish()
                continue
            self._write(chunk)
        return self._parts.pending.popleft()

    def _write(self, chunk: bytes) -> None:
        try:
            self._parser.write(chunk)
        except MultipartParseError as exc:
            raise _malformed(str(exc)) from None

    def _finish(self) -> None:
        try:
            self._parser.finalize()
        except MultipartParseError as exc:
            raise _malformed(str(exc)) from None
        if self._parts.in_file:
            raise _malformed("the body ended in the middle of the file")


def _boundary(request: Request) -> bytes:
    content_type, options = parse_options_header(request.headers.get("content-type"))
    boundary = options.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise errors.RuleViolation(
            f"send the CSV as multipart/form-data in a field named {FIELD!r}",
            title="Not a file upload",
        )
    return boundary


def _malformed(reason: str) -> errors.BadRequest:
    return errors.BadRequest(f"the multipart body is malformed: {reason}", title="Malformed upload")
