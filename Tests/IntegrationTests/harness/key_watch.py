"""Client keys of a test module, and the scan that keeps them out of everything that
leaves the gateway: its logs, its ledger, the responses clients got and the requests the
upstream saw."""
from __future__ import annotations

import hashlib
import re
import secrets
from pathlib import Path
from urllib.parse import quote

from harness.assertions import bearer
from harness.http_client import transcript_snapshot


def new_key() -> str:
    """A fresh client key: `sk-` and 48 hex digits (the fragments the scan looks for are random)."""
    return "sk-" + secrets.token_hex(24)


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class ClientKeyWatch:
    """Client keys by alias, and the log files and ledgers they must never reach."""

    def __init__(self, aliases: tuple[str, ...] = ()) -> None:
        self.labels: dict[str, str] = {}  # key -> label
        self.by_alias: dict[str, str] = {}
        self.logs: set[Path] = set()
        self.dbs: set[Path] = set()
        self.offsets: dict[Path, int] = {}
        for alias in aliases:
            self.by_alias[alias] = self.add_key(new_key(), alias)

    def add_key(self, key: str, label: str) -> str:
        self.labels[key] = label
        return key

    def add_stack(self, stack) -> None:
        self.logs.update(stack.log_files())

    def add_db(self, db: Path) -> None:
        self.dbs.add(db)

    def as_key(self, alias: str) -> list[tuple[str, str]]:
        return bearer(self.by_alias[alias])

    def render(self, template: str, **values: str) -> str:
        """Fills {hash:ALIAS}, {key:ALIAS} and the given {name}s (a stack factory fills
        {upstream} and friends)."""
        text = re.sub(r"\{hash:([\w-]+)\}", lambda m: digest(self.by_alias[m.group(1)]), template)
        text = re.sub(r"\{key:([\w-]+)\}", lambda m: self.by_alias[m.group(1)], text)
        for name, value in values.items():
            text = text.replace("{" + name + "}", value)
        return text

    def begin(self) -> None:
        self.offsets = {p: (p.stat().st_size if p.exists() else 0) for p in self.logs}

    @staticmethod
    def forms(key: str) -> list[tuple[str, bytes]]:
        # Bearer forms contain the raw one; fragments catch a masked or partial echo.
        return [
            ("raw", key.encode()),
            ("url-encoded", quote(key, safe="").encode()),
            ("fragment", key[3:19].encode()),
            ("fragment", key[-16:].encode()),
        ]

    def new_bytes(self, path: Path) -> bytes:
        if not path.exists():
            return b""
        with open(path, "rb") as f:
            f.seek(self.offsets.get(path, 0))
            return f.read()

    def places(self, mock) -> list[tuple[str, bytes]]:
        """What left the gateway since `begin`: log lines, ledger files, client responses,
        upstream requests."""
        places: list[tuple[str, bytes]] = []
        for path in sorted(self.logs):
            if data := self.new_bytes(path):
                places.append((f"{path.parent.name}/{path.name}", data))
        for db in sorted(self.dbs):
            for suffix in ("", "-wal"):
                part = Path(str(db) + suffix)
                if part.exists():
                    places.append((part.name, part.read_bytes()))
        places.append(("a response a client received", b"".join(transcript_snapshot())))
        for rec in mock.requests:
            head = (rec.target + "\n" + "\n".join(f"{k}: {v}" for k, v in rec.headers)).encode("latin-1", "replace")
            places.append((f"the upstream request {rec.method} {rec.path}", head + b"\n" + rec.body))
        return places

    def scan(self, places: list[tuple[str, bytes]]) -> list[str]:
        found = []
        for key, label in self.labels.items():
            forms = self.forms(key)
            for where, data in places:
                hits = sorted({how for how, form in forms if form in data})
                if hits:
                    found.append(f"client key {label} ({', '.join(hits)}) in {where}")
        return found

    def assert_no_leak(self, mock) -> None:
        leaks = self.scan(self.places(mock))
        assert not leaks, "client key leaked: " + "; ".join(leaks)
