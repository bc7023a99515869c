"""A minimal FastCGI responder used to check what nginx, configured with the project's
snippet, hands a FastCGI application, and how nginx reacts to how a response ends.

It is not a gateway: each request is answered by a fixed script chosen by its path.

    /probe/params          200 JSON: every FastCGI param and the stdin length/sha256
                           (also any path outside /probe/)
    /probe/stream?n=&interval=
                           text/event-stream with `X-Accel-Buffering: no`, one STDOUT
                           record per event, normal end
    /probe/abort           head + one piece, then the connection is closed without
                           FCGI_END_REQUEST (-rst: with SO_LINGER 0; -garbage: after
                           writing an invalid record header)
    /probe/clean-short     head + one piece, then a normal FCGI_END_REQUEST
    /probe/short-length    head with Content-Length 100, 10 bytes, normal end
    /probe/status          `Status: 418` as the first header
"""

from __future__ import annotations

import hashlib
import json
import socket
import struct
import threading
import time
from pathlib import Path
from urllib.parse import parse_qsl

BEGIN_REQUEST, END_REQUEST, PARAMS, STDIN, STDOUT = 1, 3, 4, 5, 6


def _read_exact(conn: socket.socket, n: int) -> bytes:
    data = bytearray()
    while len(data) < n:
        piece = conn.recv(n - len(data))
        if not piece:
            raise ConnectionError("FastCGI peer closed")
        data += piece
    return bytes(data)


def _read_record(conn: socket.socket) -> tuple[int, int, bytes]:
    _, rtype, request_id, length, padding, _ = struct.unpack(">BBHHBB", _read_exact(conn, 8))
    content = _read_exact(conn, length)
    _read_exact(conn, padding)
    return rtype, request_id, content


def _record(rtype: int, request_id: int, content: bytes = b"") -> bytes:
    return struct.pack(">BBHHBB", 1, rtype, request_id, len(content), 0, 0) + content


def _parse_params(data: bytes) -> dict[str, str]:
    params, i = {}, 0

    def length() -> int:
        nonlocal i
        if data[i] < 128:
            i += 1
            return data[i - 1]
        value = struct.unpack(">I", data[i : i + 4])[0] & 0x7FFFFFFF
        i += 4
        return value

    while i < len(data):
        name_len, value_len = length(), length()
        name = data[i : i + name_len].decode("latin-1")
        i += name_len
        params[name] = data[i : i + value_len].decode("latin-1")
        i += value_len
    return params


class FastCGIProbe:
    def __init__(self, socket_path: Path) -> None:
        self.socket_path = socket_path
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind(str(socket_path))
        socket_path.chmod(0o666)
        self._sock.listen(64)
        self._sock.settimeout(0.05)
        self._stop = threading.Event()
        self.events_sent_at: list[float] = []
        self.requests: list[dict[str, str]] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def start(self) -> "FastCGIProbe":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except (socket.timeout, OSError):
                continue
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            try:
                params, stdin, request_id = self._read_request(conn)
            except ConnectionError:
                return
            self.requests.append(params)
            uri = params.get("REQUEST_URI", "")
            path, _, query = uri.partition("?")
            q = dict(parse_qsl(query))
            out = lambda data: conn.sendall(_record(STDOUT, request_id, data))  # noqa: E731

            def end() -> None:
                conn.sendall(_record(STDOUT, request_id) + _record(END_REQUEST, request_id, b"\0" * 8))

            if path == "/probe/params" or not path.startswith("/probe/"):
                body = json.dumps(
                    {"params": params, "stdin_len": len(stdin), "stdin_sha256": hashlib.sha256(stdin).hexdigest()}
                ).encode()
                out(b"Content-Type: application/json\r\n\r\n" + body)
                end()
            elif path == "/probe/stream":
                out(b"Content-Type: text/event-stream\r\nX-Accel-Buffering: no\r\n\r\n")
                for k in range(int(q.get("n", 3))):
                    time.sleep(float(q.get("interval", 0.2)))
                    self.events_sent_at.append(time.monotonic())
                    out(f"data: {k}\n\n".encode())
                end()
            elif path.startswith("/probe/abort"):
                out(b"Content-Type: text/event-stream\r\nX-Accel-Buffering: no\r\n\r\ndata: first\n\n")
                time.sleep(0.2)
                if path == "/probe/abort-rst":
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                elif path == "/probe/abort-garbage":
                    conn.sendall(b"\xff" * 8)
                    time.sleep(0.2)
                conn.close()
            elif path == "/probe/clean-short":
                out(b"Content-Type: text/event-stream\r\nX-Accel-Buffering: no\r\n\r\ndata: first\n\n")
                end()
            elif path == "/probe/short-length":
                out(b"Content-Type: application/octet-stream\r\nContent-Length: 100\r\n\r\n" + b"s" * 10)
                end()
            elif path == "/probe/status":
                out(b"Status: 418 I'm a teapot\r\nContent-Type: text/plain\r\n\r\nteapot")
                end()
            else:
                out(b"Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\nno probe")
                end()

    @staticmethod
    def _read_request(conn: socket.socket) -> tuple[dict[str, str], bytes, int]:
        params_data, stdin = bytearray(), bytearray()
        request_id = 1
        while True:
            rtype, request_id, content = _read_record(conn)
            if rtype == PARAMS:
                params_data += content
            elif rtype == STDIN:
                if not content:
                    return _parse_params(bytes(params_data)), bytes(stdin), request_id
                stdin += content
