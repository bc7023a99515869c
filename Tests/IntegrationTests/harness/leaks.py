"""Canary secrets and the after-each-test scan for them.

Every run gets its own master key and upstream keys. After each test, everything
that left the gateway is searched for each of them, raw, base64 (both alphabets,
every alignment), URL-encoded, and as fragments of their random core:

- the new part of every gateway and nginx log (and of CLI runs' output);
- every byte a client received (HTTP and raw FastCGI);
- everything the mock upstream received;
- everything the attacker stand-in (the sink) received; it must receive nothing at all.

The only place a secret may legitimately go is an upstream key to its own upstream:
the mock may see the upstream keys in request headers and in the request target (a
Gemini-style `?key=` target). The master key may go nowhere.

One exemption, outside the gateway's control: at `info` level nginx quotes a client's
own malformed or duplicated header lines ("client sent duplicate header line: ...")
in its error log; production configs log at `error` (nginx's default) and never see
these lines. docs/SECURITY.md says so.
"""

from __future__ import annotations

import base64
import re
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, quote_plus

from .mock_upstream import RecordedRequest

# Text produced outside log files (e.g. `-t` runs) that the scan must also see.
_EXTRA_TEXTS: list[tuple[str, bytes]] = []
_EXTRA_LOCK = threading.Lock()


def record_output(label: str, data: bytes | str) -> None:
    """Adds output that left the gateway outside a watched log file (CLI runs)."""
    if isinstance(data, str):
        data = data.encode("utf-8", errors="replace")
    with _EXTRA_LOCK:
        _EXTRA_TEXTS.append((label, data))


def _take_outputs() -> list[tuple[str, bytes]]:
    with _EXTRA_LOCK:
        taken = list(_EXTRA_TEXTS)
        _EXTRA_TEXTS.clear()
        return taken


# nginx's info-level lines quoting a client's own bad request headers.
_NGINX_CLIENT_DIAGNOSTIC = re.compile(rb"^[^\n]* \[info\] \d+#\d+: \*\d+ client sent [^\n]*\n?", re.MULTILINE)


def _canary(prefix: str) -> str:
    # Unique per run; `+`, `/` and `=` make the URL-encoded form differ from the raw one.
    core = uuid.uuid4().hex
    return f"{prefix}-CANARY-{core}+{uuid.uuid4().hex[:8]}/{uuid.uuid4().hex[:8]}="


def _base64_forms(secret: bytes) -> list[bytes]:
    """Substrings every base64 encoding of a text containing `secret` must contain,
    whatever the secret's alignment inside that text."""
    forms = []
    for pad in range(3):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            encoded = encode(b"\0" * pad + secret)
            # Drop the groups that mix in padding or the bytes that follow.
            forms.append(encoded[4 if pad else 0 : -4])
    return forms


@dataclass(frozen=True)
class Canaries:
    master_key: str
    upstream_key: str
    # A second provider key, for routes that inject it in x-api-key and friends.
    second_key: str

    @classmethod
    def fresh(cls) -> "Canaries":
        return cls(master_key=_canary("sk"), upstream_key=_canary("co"), second_key=_canary("an"))

    @property
    def upstream_keys(self) -> tuple[str, ...]:
        return (self.upstream_key, self.second_key)

    def labelled(self) -> list[tuple[str, str]]:
        return [("master key", self.master_key), ("upstream key", self.upstream_key), ("second upstream key", self.second_key)]

    @staticmethod
    def forms(secret: str) -> list[tuple[str, bytes]]:
        """(how it is encoded, bytes to look for)."""
        raw = secret.encode()
        core = secret.split("-CANARY-", 1)[1].split("+", 1)[0]
        forms = [("raw", raw)]
        encoded = quote(secret, safe="")
        lower = re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), encoded)
        forms += [("url-encoded", encoded.encode()), ("url-encoded", lower.encode())]
        forms += [("form-encoded", quote_plus(secret, safe="").encode())]
        forms += [("base64", form) for form in _base64_forms(raw)]
        forms += [("fragment", core[:16].encode()), ("fragment", core[16:].encode())]
        return forms


class LeakWatch:
    def __init__(self) -> None:
        self._offsets: dict[Path, int] = {}
        self._files: set[Path] = set()

    def watch(self, *paths: Path) -> None:
        self._files.update(paths)

    def begin_test(self) -> None:
        self._offsets = {p: (p.stat().st_size if p.exists() else 0) for p in self._files}
        _take_outputs()

    def new_bytes(self, path: Path) -> bytes:
        if not path.exists():
            return b""
        with open(path, "rb") as f:
            f.seek(self._offsets.get(path, 0))
            return f.read()

    def new_text(self, path: Path) -> str:
        return self.new_bytes(path).decode("utf-8", errors="replace")

    def new_logs(self) -> dict[Path, str]:
        return {p: text for p in sorted(self._files) if (text := self.new_text(p))}

    def scan(
        self,
        canaries: Canaries,
        responses: list[bytes],
        upstream_requests: list[RecordedRequest],
        sink_connections: list[bytes] = (),
    ) -> list[str]:
        """Every place a canary was found, as readable strings; empty when clean."""
        found: list[str] = []
        places: list[tuple[str, bytes, bool]] = []  # (where, data, upstream keys allowed)
        for path in sorted(self._files):
            data = self.new_bytes(path)
            if path.name == "error.log":
                data = _NGINX_CLIENT_DIAGNOSTIC.sub(b"", data)
            if data:
                places.append((f"{path.parent.name}/{path.name}", data, False))
        for label, data in _take_outputs():
            places.append((label, data, False))
        if responses:
            places.append(("a response a client received", b"".join(responses), False))
        for rec in upstream_requests:
            where = f"the upstream request {rec.method} {rec.path}"
            head = (rec.target + "\n" + "\n".join(f"{k}: {v}" for k, v in rec.headers)).encode("latin-1", "replace")
            places.append((f"{where} (target or headers)", head, True))
            places.append((f"{where} (body)", rec.body, False))
        for data in sink_connections:
            places.append(("the attacker stand-in (sink)", data, False))

        for label, secret in canaries.labelled():
            allowed_upstream = secret in canaries.upstream_keys
            forms = Canaries.forms(secret)
            for where, data, upstream_ok in places:
                if upstream_ok and allowed_upstream:
                    continue
                hits = sorted({how for how, form in forms if form in data})
                if hits:
                    found.append(f"{label} ({', '.join(hits)}) in {where}")
        if sink_connections:
            found.append(f"the attacker stand-in (sink) received {len(sink_connections)} connection(s)")
        return found
