"""A raw-socket HTTP/1.1 client: the tests control every byte sent and see every byte received.

`request()` does one exchange and returns a `Response`. `Exchange` is the same
exchange taken step by step, for streaming tests that time each piece of the body
or close the connection halfway.

Every received byte is also appended to `TRANSCRIPT`, which the suite scans for
secrets after each test (except bodies read with `Exchange.digest_body`).
"""

from __future__ import annotations

import hashlib
import json
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Iterable, Iterator

TRANSCRIPT: list[bytes] = []
_TRANSCRIPT_LOCK = threading.Lock()

Headers = Iterable[tuple[str, str]]


def _record_transcript(data: bytes) -> None:
    with _TRANSCRIPT_LOCK:
        TRANSCRIPT.append(data)


def transcript_snapshot() -> list[bytes]:
    with _TRANSCRIPT_LOCK:
        return list(TRANSCRIPT)


def clear_transcript() -> None:
    with _TRANSCRIPT_LOCK:
        TRANSCRIPT.clear()


@dataclass
class Response:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes
    framing: str  # "content-length", "chunked", "close" or "none"
    complete: bool  # the framing said the body was whole
    error: str | None  # "eof", "reset" or "timeout" when the body ended early
    elapsed: float
    head_at: float = 0.0

    def header(self, name: str) -> str | None:
        values = self.header_values(name)
        return values[0] if values else None

    def header_values(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def header_names(self) -> list[str]:
        return [k.lower() for k, _ in self.headers]

    def json(self):
        return json.loads(self.body)

    def __repr__(self) -> str:
        return (
            f"<Response {self.status} {self.reason} framing={self.framing} complete={self.complete} "
            f"error={self.error} headers={self.headers} body={self.body[:300]!r}>"
        )


class _Reader:
    """Buffered reads from a socket, remembering when the last bytes arrived."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()
        self.eof = False
        self.error: str | None = None
        self.last_recv_at = 0.0
        # Off for bulk bodies the caller checks by hash (Exchange.digest_body).
        self.record = True

    def _fill(self) -> bool:
        if self.eof:
            return False
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            self.error, self.eof = "timeout", True
            return False
        except ConnectionResetError:
            self.error, self.eof = "reset", True
            return False
        if not data:
            self.eof = True
            return False
        self.last_recv_at = time.monotonic()
        if self.record:
            _record_transcript(data)
        self.buf += data
        return True

    def read_until(self, delimiter: bytes, limit: int = 1 << 20) -> bytes | None:
        while True:
            index = self.buf.find(delimiter)
            if index >= 0:
                end = index + len(delimiter)
                out = bytes(self.buf[:end])
                del self.buf[:end]
                return out
            if len(self.buf) > limit or not self._fill():
                return None

    def read_some(self, max_bytes: int) -> bytes:
        if not self.buf and not self._fill():
            return b""
        out = bytes(self.buf[:max_bytes])
        del self.buf[: len(out)]
        return out

    def read_exact(self, n: int) -> bytes:
        out = bytearray()
        while len(out) < n:
            piece = self.read_some(n - len(out))
            if not piece:
                break
            out += piece
        return bytes(out)


def build_request(
    method: str,
    target: str,
    headers: Headers = (),
    body: bytes | None = None,
    host: str = "127.0.0.1",
    chunks: list[bytes] | None = None,
    connection_close: bool = True,
) -> bytes:
    """The exact request bytes. Adds Host, Content-Length (or chunked framing) and
    `Connection: close` unless the caller supplied them."""
    headers = list(headers)
    names = {k.lower() for k, _ in headers}
    lines = [f"{method} {target} HTTP/1.1"]
    if "host" not in names:
        lines.append(f"Host: {host}")
    lines += [f"{k}: {v}" for k, v in headers]
    if chunks is not None:
        if "transfer-encoding" not in names:
            lines.append("Transfer-Encoding: chunked")
        payload = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks if c) + b"0\r\n\r\n"
    else:
        payload = body or b""
        if body is not None and "content-length" not in names:
            lines.append(f"Content-Length: {len(body)}")
    if connection_close and "connection" not in names:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload


class Exchange:
    """One request on its own connection, read step by step."""

    def __init__(
        self,
        port: int,
        method: str,
        target: str,
        headers: Headers = (),
        body: bytes | None = None,
        timeout: float = 10.0,
        chunks: list[bytes] | None = None,
        raw: bytes | None = None,
    ) -> None:
        self.method = method
        self.started_at = time.monotonic()
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.settimeout(timeout)
        self.reader = _Reader(self.sock)
        self.status = 0
        self.reason = ""
        self.headers: list[tuple[str, str]] = []
        self.head_at = 0.0
        self.framing = "none"
        self.complete = False
        self.pieces: list[tuple[float, bytes]] = []
        self.keep = True
        data = raw if raw is not None else build_request(method, target, headers, body, chunks=chunks)
        self.sock.sendall(data)

    # --- head ---------------------------------------------------------------

    def read_head(self) -> "Exchange":
        while True:
            head = self.reader.read_until(b"\r\n\r\n")
            if head is None:
                raise ConnectionError(f"connection ended before a response head ({self.reader.error or 'eof'})")
            self.head_at = self.reader.last_recv_at
            status_line, *header_lines = head.decode("latin-1").split("\r\n")
            _, code, *reason = status_line.split(" ", 2)
            self.status, self.reason = int(code), (reason[0] if reason else "")
            self.headers = []
            for line in header_lines:
                if line:
                    name, _, value = line.partition(":")
                    self.headers.append((name.strip(), value.strip()))
            if not 100 <= self.status < 200:
                return self

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    # --- body ---------------------------------------------------------------

    def iter_body(self) -> Iterator[tuple[float, bytes]]:
        """Yields (arrival time, bytes) as body bytes arrive, undoing chunked framing.

        Sets `framing` and `complete` when the body ends."""
        te = (self.header("Transfer-Encoding") or "").lower()
        length = self.header("Content-Length")
        if self.method == "HEAD" or self.status in (204, 304):
            self.framing, self.complete = "none", True
            return
        if "chunked" in te:
            self.framing = "chunked"
            yield from self._iter_chunked()
        elif length is not None:
            self.framing = "content-length"
            remaining = int(length)
            while remaining > 0:
                piece = self.reader.read_some(remaining)
                if not piece:
                    return
                remaining -= len(piece)
                yield self._keep(piece)
            self.complete = True
        else:
            self.framing = "close"
            while piece := self.reader.read_some(65536):
                yield self._keep(piece)
            self.complete = self.reader.error is None

    def _iter_chunked(self) -> Iterator[tuple[float, bytes]]:
        while True:
            line = self.reader.read_until(b"\r\n")
            if line is None:
                return
            size = int(line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while True:
                    trailer = self.reader.read_until(b"\r\n")
                    if trailer is None:
                        return
                    if trailer == b"\r\n":
                        self.complete = True
                        return
            remaining = size
            while remaining > 0:
                piece = self.reader.read_some(remaining)
                if not piece:
                    return
                remaining -= len(piece)
                yield self._keep(piece)
            if self.reader.read_exact(2) != b"\r\n":
                return

    def _keep(self, piece: bytes) -> tuple[float, bytes]:
        item = (self.reader.last_recv_at, piece)
        if self.keep:
            self.pieces.append(item)
        return item

    def digest_body(self, rate: float | None = None) -> tuple[int, str]:
        """Reads the body without keeping it, at most `rate` bytes/s when given (a slow
        client), and returns (length, SHA-256 hex). For large deterministic bodies: their
        bytes stay out of `response().body` and out of the transcript the leak scan reads."""
        self.keep = False
        self.reader.record = False
        digest = hashlib.sha256()
        total = 0
        started = time.monotonic()
        for _, piece in self.iter_body():
            digest.update(piece)
            total += len(piece)
            if rate and (ahead := total / rate - (time.monotonic() - started)) > 0:
                time.sleep(ahead)
        return total, digest.hexdigest()

    def iter_events(self) -> Iterator[tuple[float, bytes]]:
        """Yields (arrival time, event bytes) for each blank-line-terminated SSE event."""
        pending = b""
        for arrived, piece in self.iter_body():
            pending += piece
            while b"\n\n" in pending:
                event, pending = pending.split(b"\n\n", 1)
                yield arrived, event + b"\n\n"

    def read_rest(self) -> Response:
        for _ in self.iter_body():
            pass
        return self.response()

    def response(self) -> Response:
        return Response(
            status=self.status,
            reason=self.reason,
            headers=self.headers,
            body=b"".join(p for _, p in self.pieces),
            framing=self.framing,
            complete=self.complete,
            error=None if self.complete else (self.reader.error or "eof"),
            elapsed=time.monotonic() - self.started_at,
            head_at=self.head_at,
        )

    def close(self, reset: bool = False) -> None:
        """Closes the client side; `reset` sends an RST instead of a FIN."""
        if reset:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

    def __enter__(self) -> "Exchange":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def request(
    port: int,
    method: str,
    target: str,
    headers: Headers = (),
    body: bytes | None = None,
    timeout: float = 10.0,
    chunks: list[bytes] | None = None,
    raw: bytes | None = None,
) -> Response:
    with Exchange(port, method, target, headers, body, timeout, chunks, raw) as exchange:
        exchange.read_head()
        return exchange.read_rest()
