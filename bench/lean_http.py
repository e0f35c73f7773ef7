"""A load generator's HTTP client that costs next to nothing per request.

The benchmarks run the server, the database and the clients on the same
cores, so every millisecond of processor a client spends is taken from the
server it measures. httpx builds a request object, merges URLs, headers and
cookies and parses the answer into a model: about 0.7 ms of processor per
request, a sixth of the server's own cost for a create. This client keeps one
HTTP/1.1 connection open, writes each request from a prepared head and
reads only the status line, the headers and the body: tens of
microseconds. It speaks just enough HTTP for the benchmarks (answers with a
``Content-Length``, which every answer of the application has).
"""

from __future__ import annotations

import socket
from urllib.parse import urlsplit


class LeanClient:
    """One keep-alive connection to ``base`` sending requests with fixed ``headers``."""

    def __init__(self, base: str, headers: dict[str, str], timeout: float = 60.0) -> None:
        parts = urlsplit(base)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        self._sock = socket.create_connection((host, port), timeout=timeout)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._answers = self._sock.makefile("rb")
        fixed = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        self._fixed = f"Host: {host}:{port}\r\n{fixed}".encode()

    def post_json(self, path: str, body: bytes) -> tuple[int, bytes]:
        """POST ``body`` (JSON) to ``path``; (status, answer body)."""
        head = (
            f"POST {path} HTTP/1.1\r\n".encode()
            + self._fixed
            + b"Content-Type: application/json\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\n\r\n"
        )
        self._sock.sendall(head + body)
        return self._answer()

    def _answer(self) -> tuple[int, bytes]:
        status_line = self._answers.readline()
        if not status_line:
            raise ConnectionError("the server closed the connection")
        status = int(status_line.split()[1])
        length = 0
        while (line := self._answers.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return status, self._answers.read(length)

    def close(self) -> None:
        self._answers.close()
        self._sock.close()
