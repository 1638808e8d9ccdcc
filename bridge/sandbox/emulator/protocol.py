"""A minimal HTTP/1.1 server protocol: Content-Length bodies, keep-alive, pipelining.

Only what a JSON API client sends is understood. Anything that cannot be framed (chunked
bodies, a POST without Content-Length, a malformed head) is answered with 4xx and the
connection is closed, because after such a request the byte stream cannot be trusted.

Requests on one connection are answered strictly in order (HTTP/1.1 has no other way to
match answers to pipelined requests), so while one answer is delayed the requests behind
it stay buffered and unparsed. Other connections are never held up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from http import HTTPStatus
from typing import Protocol, cast

MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 16 * 1024 * 1024
# While a delayed answer is pending, stop reading from a client that keeps pipelining past
# this much, so a misbehaving client cannot grow the buffer without bound.
_PAUSE_BUFFER_BYTES = 1024 * 1024

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_STATUS_LINES = {s.value: f"HTTP/1.1 {s.value} {s.phrase}\r\n" for s in HTTPStatus}
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class Request:
    """One parsed request. Header names are lower-cased; the body is raw bytes."""

    __slots__ = ("body", "headers", "keep_alive", "length", "method", "target", "version")

    def __init__(
        self,
        method: str,
        target: str,
        version: str,
        headers: dict[str, str],
        length: int,
        keep_alive: bool,
    ) -> None:
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        self.length = length
        self.keep_alive = keep_alive
        self.body = b""


class Reply:
    """What to answer: a status and JSON body, or a dropped connection, maybe delayed.

    `on_done` runs once the answer has been written (or the connection is gone), which is
    how the application learns that a request it held a lock for has finished.
    """

    __slots__ = ("body", "delay", "drop", "headers", "on_done", "status")

    def __init__(
        self,
        status: int,
        body: bytes = b"",
        headers: tuple[tuple[str, str], ...] = (),
        *,
        drop: bool = False,
        delay: float = 0.0,
        on_done: Callable[[], None] | None = None,
    ) -> None:
        self.status = status
        self.body = body
        self.headers = headers
        self.drop = drop
        self.delay = delay
        self.on_done = on_done


class Application(Protocol):
    def handle(self, request: Request) -> Reply: ...

    def protocol_error(self, status: int, message: str) -> Reply: ...


def render(reply: Reply, keep_alive: bool) -> bytes:
    status = reply.status
    line = _STATUS_LINES.get(status) or f"HTTP/1.1 {status} Unknown\r\n"
    head = f"{line}content-type: application/json\r\ncontent-length: {len(reply.body)}\r\n"
    for name, value in reply.headers:
        head += f"{name}: {value}\r\n"
    if not keep_alive:
        head += "connection: close\r\n"
    return (head + "\r\n").encode("latin-1") + reply.body


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def parse_head(raw: bytes | bytearray) -> Request:
    """Parse a request line and header block (without the blank line). Raises _BadRequest."""
    lines = raw.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[0].isalpha() or not parts[1]:
        raise _BadRequest(400, "malformed request line")
    method, target, version = parts
    if version not in ("HTTP/1.1", "HTTP/1.0"):
        raise _BadRequest(505, "only HTTP/1.0 and HTTP/1.1 are supported")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        # Whitespace before the colon or a folded line is a request-smuggling vector
        # (RFC 9112 5.1, 5.2): reject rather than guess.
        if not sep or not name or name[-1] in " \t" or name[0] in " \t":
            raise _BadRequest(400, "malformed header line")
        name = name.lower()
        value = value.strip(" \t")
        if name in headers:
            if name == "content-length" and headers[name] != value:
                raise _BadRequest(400, "conflicting Content-Length headers")
            value = f"{headers[name]}, {value}"
        headers[name] = value
    if "transfer-encoding" in headers:
        raise _BadRequest(411, "Transfer-Encoding is not supported; send Content-Length")
    declared = headers.get("content-length")
    if declared is None:
        if method in _BODY_METHODS:
            raise _BadRequest(411, "Content-Length required")
        length = 0
    elif declared.isascii() and declared.isdigit():
        length = int(declared)
    else:
        raise _BadRequest(400, "invalid Content-Length")
    if length > MAX_BODY_BYTES:
        raise _BadRequest(413, "request body too large")
    tokens = headers.get("connection", "").lower()
    # HTTP/1.1 keeps connections open unless told otherwise; HTTP/1.0 only when asked.
    keep_alive = "close" not in tokens if version == "HTTP/1.1" else "keep-alive" in tokens
    return Request(method, target, version, headers, length, keep_alive)


class HttpProtocol(asyncio.Protocol):
    """One client connection."""

    def __init__(self, app: Application, connections: set[HttpProtocol]) -> None:
        self._app = app
        self._connections = connections
        self._transport: asyncio.Transport | None = None
        self._buf = bytearray()
        self._pos = 0
        self._pending: Request | None = None  # head parsed, body not complete yet
        self._continue_sent = False
        self._waiting = False  # a delayed reply is outstanding
        self._closing = False
        self._timer: asyncio.TimerHandle | None = None
        self._write_paused = False
        self._eof = False

    # asyncio callbacks -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        self._connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._connections.discard(self)
        self._transport = None
        self._closing = True
        # A delayed reply still fires so that its on_done hook releases what it holds.

    def data_received(self, data: bytes) -> None:
        if self._closing:
            return
        self._buf += data
        if self._waiting:
            if len(self._buf) > _PAUSE_BUFFER_BYTES and self._transport is not None:
                self._transport.pause_reading()
            return
        self._process([])

    def eof_received(self) -> bool | None:
        # Half-close from the client: answer what is already complete, then close.
        self._eof = True
        if not self._waiting:
            self._closing = True
            if self._transport is not None:
                self._transport.close()
        # TLS has no half-close: the connection closes after this whatever is returned, and
        # asyncio warns about a True there.
        return self._transport is None or self._transport.get_extra_info("sslcontext") is None

    def pause_writing(self) -> None:
        self._write_paused = True
        if self._transport is not None:
            self._transport.pause_reading()

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._transport is not None and not self._closing:
            self._transport.resume_reading()

    def abort(self) -> None:
        """Close at once (server shutdown)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._closing = True
        if self._transport is not None:
            self._transport.abort()

    # request loop ------------------------------------------------------------------------

    def _process(self, out: list[bytes]) -> None:
        app = self._app
        while not self._closing:
            request = self._next_request(out)
            if request is None:
                break
            reply = app.handle(request)
            if reply.delay > 0:
                self._waiting = True
                loop = asyncio.get_running_loop()
                self._timer = loop.call_later(reply.delay, self._deliver, reply, request)
                break
            self._emit(reply, request.keep_alive, out)
        if self._eof and not self._waiting:
            self._closing = True
        self._compact()
        self._flush(out)

    def _deliver(self, reply: Reply, request: Request) -> None:
        self._timer = None
        self._waiting = False
        if self._transport is None:
            if reply.on_done is not None:
                reply.on_done()
            return
        if not self._write_paused:
            self._transport.resume_reading()
        out: list[bytes] = []
        self._emit(reply, request.keep_alive, out)
        self._process(out)

    def _emit(self, reply: Reply, keep_alive: bool, out: list[bytes]) -> None:
        if reply.on_done is not None:
            reply.on_done()
        if reply.drop:
            self._closing = True
            return
        out.append(render(reply, keep_alive))
        if not keep_alive:
            self._closing = True

    def _flush(self, out: list[bytes]) -> None:
        transport = self._transport
        if transport is None:
            return
        if out:
            transport.write(out[0] if len(out) == 1 else b"".join(out))
        if self._closing:
            transport.close()

    def _compact(self) -> None:
        if self._pos:
            del self._buf[: self._pos]
            self._pos = 0

    def _next_request(self, out: list[bytes]) -> Request | None:
        buf = self._buf
        request = self._pending
        if request is None:
            pos = self._pos
            # RFC 9112 2.2: tolerate empty lines before a request line.
            while buf.startswith(b"\r\n", pos):
                pos += 2
            self._pos = pos
            end = buf.find(b"\r\n\r\n", pos)
            if end < 0 or end - pos > MAX_HEAD_BYTES:
                if end >= 0 or len(buf) - pos > MAX_HEAD_BYTES:
                    self._fail(431, "request head too large", out)
                return None
            try:
                request = parse_head(buf[pos:end])
            except _BadRequest as exc:
                self._fail(exc.status, exc.message, out)
                return None
            self._pos = end + 4
            self._pending = request
            self._continue_sent = False
        start = self._pos
        stop = start + request.length
        if len(buf) < stop:
            expect = request.headers.get("expect")
            if not self._continue_sent and expect and expect.lower() == "100-continue":
                self._continue_sent = True
                out.append(_CONTINUE)
            return None
        request.body = bytes(buf[start:stop])
        self._pos = stop
        self._pending = None
        return request

    def _fail(self, status: int, message: str, out: list[bytes]) -> None:
        out.append(render(self._app.protocol_error(status, message), keep_alive=False))
        self._closing = True
