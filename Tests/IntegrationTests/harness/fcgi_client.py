"""A raw FastCGI client that speaks to a gateway's socket directly, without nginx.

For protocol robustness tests (LIFE-05): it can send any record sequence, including
ones nginx never would. Everything it receives is added to the transcript the secret
scan reads.
"""

from __future__ import annotations

import socket
import struct
from pathlib import Path

from .http_client import _record_transcript

BEGIN_REQUEST, ABORT_REQUEST, END_REQUEST, PARAMS, STDIN, STDOUT, STDERR = 1, 2, 3, 4, 5, 6, 7
GET_VALUES, GET_VALUES_RESULT, UNKNOWN_TYPE = 9, 10, 11
RESPONDER, KEEP_CONN = 1, 1


def record(rtype: int, request_id: int, content: bytes = b"", padding: int = 0, version: int = 1) -> bytes:
    return struct.pack(">BBHHBB", version, rtype, request_id, len(content), padding, 0) + content + b"\0" * padding


def begin(request_id: int = 1, flags: int = 0) -> bytes:
    return record(BEGIN_REQUEST, request_id, struct.pack(">HB5x", RESPONDER, flags))


def name_value(name: bytes, value: bytes) -> bytes:
    def length(n: int) -> bytes:
        return bytes([n]) if n < 128 else struct.pack(">I", n | 0x80000000)

    return length(len(name)) + length(len(value)) + name + value


def params_stream(params: dict[str, str]) -> bytes:
    return b"".join(name_value(k.encode(), v.encode()) for k, v in params.items())


def request_params(method: str, uri: str, headers: dict[str, str] | None = None, body: bytes = b"") -> dict[str, str]:
    params = {"REQUEST_METHOD": method, "REQUEST_URI": uri, "CONTENT_LENGTH": str(len(body)) if body else ""}
    for name, value in (headers or {}).items():
        params["HTTP_" + name.upper().replace("-", "_")] = value
    return params


def records_for(data: bytes, rtype: int, request_id: int = 1, size: int = 65535) -> bytes:
    """`data` as records of at most `size` bytes, then the empty record that ends the stream."""
    pieces = [data[i : i + size] for i in range(0, len(data), size)]
    return b"".join(record(rtype, request_id, p) for p in pieces) + record(rtype, request_id)


def whole_request(method: str, uri: str, headers: dict[str, str] | None = None, body: bytes = b"", flags: int = 0) -> bytes:
    params = params_stream(request_params(method, uri, headers, body))
    return begin(1, flags) + records_for(params, PARAMS) + records_for(body, STDIN)


class FastCGIClient:
    def __init__(self, socket_path: Path, timeout: float = 10) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(str(socket_path))
        self._buf = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _read(self, n: int) -> bytes | None:
        while len(self._buf) < n:
            try:
                piece = self.sock.recv(65536)
            except (ConnectionResetError, socket.timeout):
                return None
            if not piece:
                return None
            _record_transcript(piece)
            self._buf += piece
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    def read_record(self) -> tuple[int, int, bytes] | None:
        header = self._read(8)
        if header is None:
            return None
        _, rtype, request_id, length, padding, _ = struct.unpack(">BBHHBB", header)
        content = self._read(length + padding)
        return None if content is None else (rtype, request_id, content[:length])

    def response(self, request_id: int = 1) -> tuple[bytes, bool]:
        """STDOUT of `request_id` until its END_REQUEST; (stdout, ended cleanly)."""
        out = bytearray()
        while (rec := self.read_record()) is not None:
            rtype, rid, content = rec
            if rid == request_id and rtype == STDOUT:
                out += content
            elif rid == request_id and rtype == END_REQUEST:
                return bytes(out), True
        return bytes(out), False

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "FastCGIClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def status_of(stdout: bytes) -> int | None:
    head = stdout.split(b"\r\n\r\n", 1)[0]
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"status:"):
            return int(line.split()[1])
    return None
