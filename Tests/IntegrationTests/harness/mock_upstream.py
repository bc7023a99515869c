"""A scriptable HTTP/1.1 upstream that records every request it receives.

Runs in threads of the pytest process, so tests read the recorded requests
directly and share its monotonic clock (for streaming latency assertions).

Behaviours, chosen by the request path (query parameters tune them):

    /echo*                 200 JSON describing the request that arrived
    /v1/rerank             a fixed Cohere-shaped rerank result
    /status/N              status N, JSON body, headers the gateway must filter or relay
    /sse?n=&interval=&first_delay=&ctype=&reset_after=&fin_after=
                           chunked event stream, one flushed chunk per event
    /chunked?n=&interval=&ctype=
                           chunked body of unknown length
    /slow?delay=           waits before the response head
    /hang                  reads the request, never answers
    /stall-after-head?events=
                           sends the head (and `events` events), then silence
    /gzip                  gzip-encoded body with Content-Length
    /redirect?status=&to=  redirect to /redirect-target (or `to`)
    /big?bytes=&seed=      deterministic pseudo-random body with Content-Length
    /reset-mid-body?length=&sent=
                           Content-Length promises more than is sent, then RST
    /close-before-head?rst=
                           reads the request, closes without answering
    /cookie                sets a cookie
    /counter               a cacheable response whose body changes every time
    /redirect-chain?n=     302 to /redirect-chain?n=N-1 (a chain only a follower would walk)
    /reflect-key?status=   echoes the credential it received in a header and in the body
                           (an upstream that puts the key in its error message)
    /raw?case=             raw bytes no well-behaved server sends (RAW_RESPONSES)
    /headers?count=&size=  200 with `count` extra headers of `size` bytes each
    /fast-stream?bytes=&chunk=&ctype=&length=&rate=&pattern=
                           a body written as fast as the connection takes it (or at
                           `rate` bytes/s), chunked (or with Content-Length when length=1);
                           pattern=1: pieces of pattern_piece(k) instead of SSE-like text
    /gzip-bomb?bytes=      `bytes` zero bytes, gzip-compressed (about 1000:1), whatever
                           the request's Accept-Encoding said
    /reject-upload?status=&after=&rst=
                           reads only `after` body bytes, answers `status` and closes
                           (or resets), leaving the rest of the upload unread
    /replay/<name>[/...]?status=&interval=&split=&cut_after=
                           a recorded provider response (harness/usage_shapes.py) with its
                           content type: whole with Content-Length, or, for a streamed shape
                           (or with split=N: N-byte pieces), chunked one piece at a time
                           `interval` s apart (default 0.01); cut_after=K: K pieces, then
                           the connection is closed without the chunked body's end

Every handler that waits watches its connection: when the peer (the gateway)
closes it, the request record's `closed` event is set.
"""

from __future__ import annotations

import gzip
import hashlib
import http
import http.client
import itertools
import json
import os
import random
import select
import socket
import struct
import threading
import time
from base64 import b64encode
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

from .usage_shapes import SHAPES
from .waiting import wait_until

# The standard library refuses requests with more than 100 header fields (431); the
# tests send more to check what nginx and the gateway do with them.
http.client._MAXHEADERS = 1000

MOCK_SERVER = "MockUpstream/9.9"
MOCK_DATE = "Mon, 01 Jan 2001 00:00:00 GMT"

RERANK_RESPONSE = (
    b'{"id":"07734bd2-2473-4f07-94e1-0d9f0e6843cf","results":['
    b'{"index":2,"relevance_score":0.99782026},'
    b'{"index":0,"relevance_score":0.04560134},'
    b'{"index":4,"relevance_score":0.0062072305}],'
    b'"meta":{"api_version":{"version":"1"},"billed_units":{"search_units":1}}}'
)

GZIP_PLAIN = json.dumps(
    {"gzip": True, "items": [{"n": n, "text": "compressible " * 8} for n in range(60)]}
).encode()

STATUS_HEADERS = [
    ("X-RateLimit-Remaining", "42"),
    ("X-Custom-Upstream", "kept-value"),
    ("Retry-After", "7"),
    ("X-Accel-Redirect", "/internal-only"),
    ("X-Accel-Buffering", "yes"),
    ("X-Accel-Limit-Rate", "1"),
    ("X-Accel-Expires", "3600"),
    ("Keep-Alive", "timeout=5, max=1000"),
    ("Connection", "keep-alive, X-Hop-Resp"),
    ("X-Hop-Resp", "must-not-be-relayed"),
    ("Status", "299 Upstream Says"),
]


# Responses a careful proxy must not relay as they are. Each is sent verbatim after
# the request was read, then the connection is closed.
RAW_RESPONSES = {
    "garbage": b"HELLO\r\n\r\n",
    "http09": b"a body without any status line or headers\n",
    "bare-cr-header": (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Injected: a\rX-Evil: cr-injected\r\n"
        b"Content-Length: 2\r\n\r\nok"
    ),
    "obs-fold": (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Folded: first\r\n X-Evil: folded-in\r\n"
        b"Content-Length: 2\r\n\r\nok"
    ),
    "nul-header": b"HTTP/1.1 200 OK\r\nX-Nul: a\x00X-Evil: nul\r\nContent-Length: 2\r\n\r\nok",
    "space-in-name": b"HTTP/1.1 200 OK\r\nX Evil: spaced\r\nContent-Length: 2\r\n\r\nok",
    "status-header": (
        b"HTTP/1.1 500 Internal Server Error\r\nStatus: 200 OK\r\nContent-Type: application/json\r\n"
        b"Content-Length: 19\r\n\r\n{\"upstream\":\"fail\"}"
    ),
    "two-content-lengths": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 40\r\n\r\nok",
    "early-hints": (
        b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\nX-Hint-Only: 1\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nfinal"
    ),
    "trailers": (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTrailer: X-Trailer\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\nX-Unannounced: u\r\n\r\n"
    ),
    "trailers-unannounced": (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n0\r\nX-Unannounced: u\r\n\r\n"
    ),
    "trailer-announced-only": (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTrailer: X-Trailer\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n0\r\n\r\n"
    ),
    "hop-by-hop": (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: X-Bar, Upgrade\r\nX-Bar: 1\r\n"
        b"Keep-Alive: timeout=5\r\nProxy-Authenticate: Basic\r\nUpgrade: foo\r\nTrailer: X-T\r\n"
        b"Trailers: not-special\r\nX-Multi-Value: a\r\nX-Multi-Value: b\r\nProxy-Connection: keep-alive\r\n"
        b"Content-Length: 2\r\n\r\nok"
    ),
}


def status_body(code: int) -> bytes:
    return json.dumps(
        {"upstream_status": code, "detail": f"mock answer {code}", "pad": "x" * 200},
        separators=(",", ":"),
    ).encode()


def big_body(size: int, seed: int = 1) -> bytes:
    return random.Random(seed).randbytes(size)


PATTERN = random.Random(6).randbytes(1 << 20)


def pattern_piece(k: int, size: int) -> bytes:
    """Piece `k` of a deterministic body: its number, then pseudo-random bytes. A piece
    lost, repeated or moved changes the body's hash (`pattern_digest`)."""
    return k.to_bytes(8, "big") + PATTERN[: size - 8]


def pattern_digest(total: int, size: int = 65536) -> tuple[int, str]:
    """(length, SHA-256) of what /fast-stream?pattern=1&bytes=total&chunk=size sends."""
    digest = hashlib.sha256()
    count = -(-total // size)
    for k in range(count):
        digest.update(pattern_piece(k, size))
    return count * size, digest.hexdigest()


def chunk_piece(k: int) -> bytes:
    return json.dumps({"piece": k, "text": f"chunk number {k}"}).encode() + b"\n"


def sse_event(k: int) -> bytes:
    return f'id: {k}\nevent: tick\ndata: {{"k": {k}, "text": "token {k}"}}\n\n'.encode()


@dataclass
class RecordedRequest:
    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes
    conn_id: int
    peer_port: int
    received_at: float
    generation: int
    events_sent_at: list[float] = field(default_factory=list)
    closed: threading.Event = field(default_factory=threading.Event)
    closed_at: float | None = None

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    @property
    def query(self) -> str | None:
        return self.target.split("?", 1)[1] if "?" in self.target else None

    def header(self, name: str) -> str | None:
        values = self.header_values(name)
        return values[0] if values else None

    def header_values(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def header_names(self) -> list[str]:
        return [k.lower() for k, _ in self.headers]

    def mark_closed(self) -> None:
        if not self.closed.is_set():
            self.closed_at = time.monotonic()
            self.closed.set()


class MockUpstream:
    """The upstream API every gateway route in the suite points at."""

    def __init__(self, keepalive_timeout: float | None = None) -> None:
        """`keepalive_timeout`: close a connection idle for that long (default: never)."""
        self._lock = threading.Lock()
        self._records: list[RecordedRequest] = []
        self._generation = 0
        self._conn_ids = itertools.count(1)
        self._counter = itertools.count(1)
        self.stopping = threading.Event()
        handler = _Handler
        if keepalive_timeout is not None:
            handler = type("_IdleClosingHandler", (_Handler,), {"timeout": keepalive_timeout})
        self._server = _Server(("127.0.0.1", 0), handler)
        self._server.mock = self
        self.port: int = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def start(self) -> "MockUpstream":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def reset(self) -> None:
        """Forgets recorded requests; late arrivals from earlier tests stay hidden."""
        with self._lock:
            self._generation += 1
            self._records = []

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._records)

    def requests_to(self, path_prefix: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.startswith(path_prefix)]

    def wait_for_requests(self, count: int, timeout: float = 5.0) -> list[RecordedRequest]:
        wait_until(lambda: len(self.requests) >= count, timeout, f"{count} upstream request(s)")
        return self.requests

    def only_request(self) -> RecordedRequest:
        records = self.requests
        assert len(records) == 1, f"expected exactly one upstream request, got {len(records)}: {[r.target for r in records]}"
        return records[0]

    def next_conn_id(self) -> int:
        return next(self._conn_ids)

    def next_count(self) -> int:
        return next(self._counter)

    def record(self, **fields) -> RecordedRequest:
        with self._lock:
            rec = RecordedRequest(generation=self._generation, **fields)
            self._records.append(rec)
            return rec


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    mock: MockUpstream


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.conn_id = self.server.mock.next_conn_id()

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - stdlib signature
        pass

    # --- request intake -------------------------------------------------

    def _dispatch(self) -> None:
        path, _, raw_query = self.path.partition("?")
        self.q = dict(parse_qsl(raw_query, keep_blank_values=True))
        # Answers before the upload is complete, so it reads only part of the body.
        partial = int(self.q.get("after", 0)) if path == "/reject-upload" else None
        try:
            body = self._read_body() if partial is None else self.rfile.read(partial)
        except (ConnectionAbortedError, ConnectionResetError, socket.timeout):
            self.close_connection = True
            return
        mock = self.server.mock
        self.rec = mock.record(
            method=self.command,
            target=self.path,
            headers=list(self.headers.items()),
            body=body,
            conn_id=self.conn_id,
            peer_port=self.client_address[1],
            received_at=time.monotonic(),
        )
        try:
            self._route(path)
        except (BrokenPipeError, ConnectionResetError):
            self.rec.mark_closed()
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _dispatch

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            data = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(data)
                data += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if len(body) < length:
            # The client gave up mid-body: like any server, never act on half a request.
            raise ConnectionAbortedError("request body ended early")
        return body

    def _route(self, path: str) -> None:
        if path.startswith("/echo"):
            return self._echo()
        if path.startswith("/status/"):
            return self._status(int(path.split("/")[2]))
        if path.startswith("/replay/"):
            return self._replay(path.split("/")[2])
        exact = {
            "/v1/rerank": self._rerank,
            "/sse": self._sse,
            "/chunked": self._chunked,
            "/slow": self._slow,
            "/hang": self._hang,
            "/stall-after-head": self._stall_after_head,
            "/gzip": self._gzip,
            "/redirect": self._redirect,
            "/big": self._big,
            "/reset-mid-body": self._reset_mid_body,
            "/close-before-head": self._close_before_head,
            "/cookie": self._cookie,
            "/counter": self._counter,
            "/redirect-chain": self._redirect_chain,
            "/reflect-key": self._reflect_key,
            "/raw": self._raw,
            "/headers": self._many_headers,
            "/fast-stream": self._fast_stream,
            "/gzip-bomb": self._gzip_bomb,
            "/reject-upload": self._reject_upload,
        }
        handler = exact.get(path)
        if handler is None:
            return self._send(404, b'{"mock":"no behaviour for this path"}')
        return handler()

    # --- writing ----------------------------------------------------------

    def _head(self, status: int, headers: list[tuple[str, str]]) -> None:
        try:
            reason = http.HTTPStatus(status).phrase
        except ValueError:
            reason = "Mock Status"
        lines = [f"HTTP/1.1 {status} {reason}", f"Server: {MOCK_SERVER}", f"Date: {MOCK_DATE}"]
        lines += [f"{k}: {v}" for k, v in headers]
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    def _send(
        self,
        status: int,
        body: bytes,
        headers: list[tuple[str, str]] = (),
        content_type: str = "application/json",
    ) -> None:
        all_headers = [("Content-Type", content_type)] if content_type else []
        all_headers += list(headers)
        if self.q.get("close") == "1":
            # An upstream that closes every connection after its answer.
            all_headers.append(("Connection", "close"))
            self.close_connection = True
        if status not in (204, 304):
            all_headers.append(("Content-Length", str(len(body))))
        self._head(status, all_headers)
        if self.command != "HEAD" and status not in (204, 304):
            self.wfile.write(body)

    def _start_chunked(self, content_type: str, extra: list[tuple[str, str]] = ()) -> None:
        headers = [("Content-Type", content_type), ("Cache-Control", "no-cache")]
        headers += list(extra) + [("Transfer-Encoding", "chunked")]
        self._head(200, headers)

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def _end_chunked(self) -> None:
        self.wfile.write(b"0\r\n\r\n")

    def _reset(self) -> None:
        """Closes the connection with an RST (SO_LINGER 0)."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        # detach: the rfile/wfile wrappers would otherwise keep the descriptor open.
        os.close(self.connection.detach())
        self.close_connection = True

    def _fin(self) -> None:
        self.connection.shutdown(socket.SHUT_RDWR)
        self.close_connection = True

    def _wait_or_closed(self, seconds: float) -> bool:
        """Waits `seconds`; returns True early when the peer closed the connection."""
        deadline = time.monotonic() + seconds
        sock = self.connection
        while True:
            if self.server.mock.stopping.is_set():
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            readable, _, _ = select.select([sock], [], [], min(remaining, 0.05))
            if not readable:
                continue
            try:
                data = sock.recv(1, socket.MSG_PEEK)
            except OSError:
                data = b""
            if not data:
                self.rec.mark_closed()
                self.close_connection = True
                return True
            # Bytes of a next request: not a close; keep waiting without spinning.
            time.sleep(min(remaining, 0.05))

    # --- behaviours -------------------------------------------------------

    def _echo(self) -> None:
        rec = self.rec
        description = {
            "method": rec.method,
            "target": rec.target,
            "path": rec.path,
            "query": rec.query,
            "headers": [[k, v] for k, v in rec.headers],
            "body_len": len(rec.body),
            "body_sha256": hashlib.sha256(rec.body).hexdigest(),
        }
        if len(rec.body) <= 65536:
            description["body_b64"] = b64encode(rec.body).decode()
        self._send(200, json.dumps(description).encode())

    def _rerank(self) -> None:
        self._send(200, RERANK_RESPONSE)

    def _status(self, code: int) -> None:
        self._send(code, status_body(code), STATUS_HEADERS, "application/json; charset=utf-8")

    def _sse(self) -> None:
        count = int(self.q.get("n", 5))
        interval = float(self.q.get("interval", 0.2))
        first_delay = float(self.q.get("first_delay", interval))
        reset_after = int(self.q["reset_after"]) if "reset_after" in self.q else None
        fin_after = int(self.q["fin_after"]) if "fin_after" in self.q else None
        # An upstream asking nginx to buffer: the gateway must not pass that on.
        self._start_chunked(self.q.get("ctype", "text/event-stream"), [("X-Accel-Buffering", "yes")])
        for k in range(count):
            if self._wait_or_closed(first_delay if k == 0 else interval):
                return
            if k == reset_after:
                return self._reset()
            if k == fin_after:
                return self._fin()
            self.rec.events_sent_at.append(time.monotonic())
            self._write_chunk(sse_event(k))
        self._end_chunked()

    def _chunked(self) -> None:
        count = int(self.q.get("n", 4))
        interval = float(self.q.get("interval", 0))
        self._start_chunked(self.q.get("ctype", "application/x-ndjson"))
        for k in range(count):
            if interval and self._wait_or_closed(interval):
                return
            self.rec.events_sent_at.append(time.monotonic())
            self._write_chunk(chunk_piece(k))
        self._end_chunked()

    def _slow(self) -> None:
        delay = float(self.q.get("delay", 1))
        if self._wait_or_closed(delay):
            return
        self._send(200, json.dumps({"slept": delay}).encode())

    def _hang(self) -> None:
        self._wait_or_closed(120)

    def _stall_after_head(self) -> None:
        self._start_chunked("text/event-stream")
        for k in range(int(self.q.get("events", 0))):
            self.rec.events_sent_at.append(time.monotonic())
            self._write_chunk(sse_event(k))
        self._wait_or_closed(120)

    def _gzip(self) -> None:
        compressed = gzip.compress(GZIP_PLAIN)
        self._send(200, compressed, [("Content-Encoding", "gzip"), ("Vary", "Accept-Encoding")])

    def _redirect(self) -> None:
        status = int(self.q.get("status", 302))
        to = self.q.get("to", "/redirect-target")
        # raw=1: the Location exactly as given (e.g. protocol-relative `//host/x`).
        location = self.server.mock.url + to if to.startswith("/") and self.q.get("raw") != "1" else to
        self._send(status, b'{"redirecting":true}', [("Location", location)])

    def _big(self) -> None:
        size = int(self.q.get("bytes", 1_000_000))
        body = big_body(size, int(self.q.get("seed", 1)))
        self._send(200, body, content_type="application/octet-stream")

    def _reset_mid_body(self) -> None:
        length = int(self.q.get("length", 2000))
        sent = int(self.q.get("sent", 1000))
        self._head(200, [("Content-Type", "application/octet-stream"), ("Content-Length", str(length))])
        self.wfile.write(b"r" * sent)
        # Let the partial body leave the socket buffer before the RST discards it.
        if not self._wait_or_closed(0.05):
            # fin=1: a clean close that still leaves the body short.
            self._fin() if self.q.get("fin") == "1" else self._reset()

    def _close_before_head(self) -> None:
        if self.q.get("rst") == "1":
            self._reset()
        else:
            self._fin()

    def _cookie(self) -> None:
        self._send(
            200,
            b'{"cookie":"set"}',
            [("Set-Cookie", "itest_session=cookie-from-upstream; Path=/; HttpOnly")],
        )

    def _redirect_chain(self) -> None:
        n = int(self.q.get("n", 25))
        self._send(302, b'{"redirecting":true}', [("Location", f"{self.server.mock.url}/redirect-chain?n={n - 1}")])

    def _reflect_key(self) -> None:
        status = int(self.q.get("status", 401))
        received = self.rec.header("x-api-key") or self.rec.header("authorization") or ""
        body = json.dumps({"error": {"message": f"invalid api key {received}", "received": received}}).encode()
        self._send(status, body, [("X-Echo-Key", received), ("WWW-Authenticate", f'Bearer error="{received}"')])

    def _raw(self) -> None:
        self.wfile.write(RAW_RESPONSES[self.q["case"]])
        self.wfile.flush()
        self._fin()

    def _many_headers(self) -> None:
        count = int(self.q.get("count", 10))
        size = int(self.q.get("size", 100))
        headers = [(f"X-Filler-{k}", "v" * size) for k in range(count)]
        self._send(200, b'{"headers":"many"}', headers)

    def _fast_stream(self) -> None:
        total = int(self.q.get("bytes", 1 << 20))
        chunk = int(self.q.get("chunk", 65536))
        pattern = self.q.get("pattern") == "1"
        piece = pattern_piece(0, chunk) if pattern else b"data: " + b"x" * (chunk - 8) + b"\n\n"
        # length=1: announce the length instead of chunking (total rounded to whole pieces).
        with_length = self.q.get("length") == "1"
        count = -(-total // len(piece))
        if with_length:
            self._head(200, [("Content-Type", self.q.get("ctype", "application/octet-stream")),
                             ("Content-Length", str(count * len(piece)))])
        else:
            self._start_chunked(self.q.get("ctype", "text/event-stream"))
        # rate=N: at most N bytes per second (an upstream on a real network).
        rate = float(self.q.get("rate", 0))
        started = time.monotonic()
        try:
            for k in range(count):
                if pattern:
                    piece = pattern_piece(k, chunk)
                self.wfile.write(piece) if with_length else self._write_chunk(piece)
                if rate and (ahead := (k + 1) * len(piece) / rate - (time.monotonic() - started)) > 0:
                    time.sleep(ahead)
            if not with_length:
                self._end_chunked()
        except OSError:
            self.rec.mark_closed()
            self.close_connection = True
            return
        self.rec.events_sent_at.append(time.monotonic())

    def _gzip_bomb(self) -> None:
        size = int(self.q.get("bytes", 256 << 20))
        compressor = gzip.compress(b"\0" * (1 << 20), compresslevel=9)
        # Concatenated gzip members decode to the concatenation (RFC 1952 §2.2).
        body = compressor * (size >> 20)
        self._send(200, body, [("Content-Encoding", "gzip")], content_type="application/octet-stream")

    def _reject_upload(self) -> None:
        status = int(self.q.get("status", 413))
        self._send(status, status_body(status), [("Connection", "close")])
        self.wfile.flush()
        self._reset() if self.q.get("rst") == "1" else self._fin()

    def _replay(self, name: str) -> None:
        shape = SHAPES.get(name)
        if shape is None:
            return self._send(404, b'{"mock":"no such shape"}')
        status = int(self.q.get("status", 200))
        split = int(self.q.get("split", 0))
        cut_after = int(self.q["cut_after"]) if "cut_after" in self.q else None
        if not shape.streamed and not split and cut_after is None:
            return self._send(status, shape.body, content_type=shape.content_type)
        body = shape.body
        pieces = [body[i : i + split] for i in range(0, len(body), split)] if split else list(shape.pieces)
        interval = float(self.q.get("interval", 0.01))
        self._head(status, [("Content-Type", shape.content_type), ("Cache-Control", "no-cache"), ("Transfer-Encoding", "chunked")])
        for k, piece in enumerate(pieces):
            if k == cut_after:
                return self._fin()
            if k and interval and self._wait_or_closed(interval):
                return
            self.rec.events_sent_at.append(time.monotonic())
            self._write_chunk(piece)
        self._end_chunked()

    def _counter(self) -> None:
        count = self.server.mock.next_count()
        self._send(
            200,
            json.dumps({"count": count}).encode(),
            [("Cache-Control", "public, max-age=3600"), ("ETag", '"fixed-etag"'),
             ("Last-Modified", MOCK_DATE)],
        )


class TcpSink:
    """A listener standing in for a host the gateway must never contact.

    Records every connection it accepts (and the first bytes sent), then closes it.
    """

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.05)
        self.port: int = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._lock = threading.Lock()
        self._connections: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def start(self) -> "TcpSink":
        self._thread.start()
        return self

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except (socket.timeout, OSError):
                continue
            with conn:
                conn.settimeout(0.2)
                try:
                    first = conn.recv(4096)
                except OSError:
                    first = b""
            with self._lock:
                self._connections.append(first)

    @property
    def connections(self) -> list[bytes]:
        with self._lock:
            return list(self._connections)

    def reset(self) -> None:
        with self._lock:
            self._connections = []

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()
