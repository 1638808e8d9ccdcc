"""The observability HTTP port: ``/healthz``, ``/readyz``, ``/metrics``, and the status page
(``/`` or ``/status``, its figures at ``/status.json``).

A small WSGI server on its own thread (not the engine's event loop), so that a probe is
answered even while the loop is busy, and says so when the loop has stopped turning. It
binds only the configured host and port. Handlers read immutable snapshots; they never touch
the engine's state.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterable, Mapping
from socketserver import ThreadingMixIn
from typing import Any, Protocol
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from wsgiref.types import StartResponse, WSGIEnvironment

import orjson

from bridge.observability import status_page
from bridge.observability.health import Verdict

_STATUS = {
    200: "200 OK",
    404: "404 Not Found",
    405: "405 Method Not Allowed",
    503: "503 Service Unavailable",
}


class Probes(Protocol):
    def health(self) -> Verdict: ...

    def readiness(self) -> Verdict: ...

    def metrics(self) -> tuple[bytes, str]: ...

    def status(self) -> Mapping[str, Any]:
        """The status page's figures (`bridge.observability.status_page.figures`)."""
        ...


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _IPv6Server(_Server):
    address_family = socket.AF_INET6


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        # Probes come every few seconds: one access line each would drown the bridge's logs.
        pass


class HttpServer:
    def __init__(self, probes: Probes, host: str, port: int) -> None:
        self._probes = probes
        server_class = _IPv6Server if ":" in host else _Server
        self._server = make_server(
            host, port, self._app, server_class=server_class, handler_class=_QuietHandler
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="observability-http", daemon=True
        )

    @property
    def address(self) -> tuple[str, int]:
        """The bound host and port (the port the system chose when configured as 0)."""
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    @property
    def port(self) -> int:
        return self.address[1]

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()  # waits for serve_forever to return
            self._thread.join(5)
        self._server.server_close()

    def _app(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return _reply(start_response, 405, b"", "text/plain")
        if path == "/metrics":
            body, content_type = self._probes.metrics()
            return _reply(start_response, 200, body, content_type)
        if path == "/healthz":
            return _verdict(start_response, self._probes.health())
        if path == "/readyz":
            return _verdict(start_response, self._probes.readiness())
        if path in ("/", "/status"):
            page = status_page.render(self._probes.status())
            return _reply(start_response, 200, page, "text/html; charset=utf-8")
        if path == "/status.json":
            body = orjson.dumps(self._probes.status()) + b"\n"
            return _reply(start_response, 200, body, "application/json")
        return _reply(
            start_response, 404, b"not found: try /, /status.json, /healthz, /readyz or /metrics\n"
        )


def _verdict(start_response: StartResponse, verdict: Verdict) -> list[bytes]:
    body = orjson.dumps(verdict.as_dict()) + b"\n"
    return _reply(start_response, 200 if verdict.ok else 503, body, "application/json")


def _reply(
    start_response: StartResponse, status: int, body: bytes, content_type: str = "text/plain"
) -> list[bytes]:
    start_response(
        _STATUS[status],
        [
            ("Content-Type", content_type),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
        ],
    )
    return [body]
