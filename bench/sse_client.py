"""Reads one SSE stream through a proxy and times every event (asyncio, standard library).

The upstream stamps each event with `time.monotonic_ns()` when it writes it; the client
stamps it again when the event is complete, so `delay` is the time the event spent in
everything between (proxies, sockets, the client's own event loop).
"""
from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass, field


@dataclass
class StreamResult:
    status: int = 0
    ttfe_ms: float | None = None  # request written → first event complete
    delays_ms: list[float] = field(default_factory=list)  # per event: received − written upstream
    added_gaps_ms: list[float] = field(default_factory=list)  # client gap − upstream gap, per event after the first
    received: int = 0
    reordered: int = 0
    error: str | None = None

    def lost(self, expected: int) -> int:
        return max(0, expected - self.received)


async def read_stream(host: str, port: int, path: str, key: str, timeout: float = 120.0) -> StreamResult:
    result = StreamResult()
    try:
        await asyncio.wait_for(_read(host, port, path, key, result), timeout)
    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError) as error:
        result.error = f"{type(error).__name__}: {error}"
    return result


async def _read(host: str, port: int, path: str, key: str, result: StreamResult) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\n"
            "Accept: text/event-stream\r\nConnection: close\r\n\r\n"
        )
        writer.write(request.encode())
        await writer.drain()
        sent = time.monotonic_ns()
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        result.status = int(lines[0].split(" ")[1])
        chunked = any(l.lower().startswith("transfer-encoding:") and "chunked" in l.lower() for l in lines[1:])
        events = _EventParser(sent, result)
        dechunk = _Dechunker() if chunked else None
        # Bulk reads: with a thousand streams the client's own cost must stay small.
        while data := await reader.read(65536):
            if dechunk is None:
                events.feed(data)
                continue
            payload, finished = dechunk.feed(data)
            events.feed(payload)
            if finished:
                break
    finally:
        writer.close()


class _Dechunker:
    """HTTP/1.1 chunked transfer coding, fed whatever the socket returned."""

    def __init__(self) -> None:
        self.buffer = b""
        self.remaining = 0  # bytes of the current chunk still to come, then its CRLF

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        self.buffer += data
        out = []
        while True:
            if self.remaining:
                take = self.buffer[: self.remaining]
                out.append(take)
                self.buffer = self.buffer[len(take):]
                self.remaining -= len(take)
                if self.remaining:
                    return b"".join(out), False
                self.skip_crlf = True
            if getattr(self, "skip_crlf", False):
                if len(self.buffer) < 2:
                    return b"".join(out), False
                self.buffer, self.skip_crlf = self.buffer[2:], False
            end = self.buffer.find(b"\r\n")
            if end < 0:
                return b"".join(out), False
            size = int(self.buffer[:end].split(b";")[0], 16)
            self.buffer = self.buffer[end + 2 :]
            if size == 0:
                return b"".join(out), True
            self.remaining = size


# The upstream's stamp opens every timed event (other members may follow it).
_EVENT = re.compile(rb'^data: \{"seq":(\d+),"t":(\d+)[,}]', re.M)


class _EventParser:
    def __init__(self, sent_ns: int, result: StreamResult) -> None:
        self.sent_ns = sent_ns
        self.result = result
        self.buffer = b""
        self.last: tuple[int, int] | None = None  # (received, written) of the previous event
        self.next_seq = 0

    def feed(self, data: bytes) -> None:
        now = time.monotonic_ns()
        self.buffer += data
        end = self.buffer.rfind(b"\n\n")
        if end < 0:
            return
        complete, self.buffer = self.buffer[: end + 2], self.buffer[end + 2 :]
        for match in _EVENT.finditer(complete):
            self._event(int(match[1]), int(match[2]), now)

    def _event(self, seq: int, written: int, now: int) -> None:
        r = self.result
        if r.ttfe_ms is None:
            r.ttfe_ms = (now - self.sent_ns) / 1e6
        r.delays_ms.append((now - written) / 1e6)
        if self.last is not None:
            r.added_gaps_ms.append(((now - self.last[0]) - (written - self.last[1])) / 1e6)
        if seq != self.next_seq:
            r.reordered += 1
        self.next_seq = seq + 1
        self.last = (now, written)
        r.received += 1
