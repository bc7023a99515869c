"""Canary secrets and the after-each-test scan for them.

The master key must never appear in logs, in any response a client received, or in
anything the upstream received. The upstream key is legitimately sent upstream (and
echoed back by /echo), so it is only looked for in logs.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

from .mock_upstream import RecordedRequest


@dataclass(frozen=True)
class Canaries:
    master_key: str
    upstream_key: str

    @classmethod
    def fresh(cls) -> "Canaries":
        return cls(
            master_key=f"sk-CANARY-{uuid.uuid4().hex}",
            upstream_key=f"co-CANARY-{uuid.uuid4().hex}",
        )


class LeakWatch:
    def __init__(self) -> None:
        self._offsets: dict[Path, int] = {}
        self._files: set[Path] = set()

    def watch(self, *paths: Path) -> None:
        self._files.update(paths)

    def begin_test(self) -> None:
        self._offsets = {p: (p.stat().st_size if p.exists() else 0) for p in self._files}

    def new_text(self, path: Path) -> str:
        if not path.exists():
            return ""
        with open(path, "rb") as f:
            f.seek(self._offsets.get(path, 0))
            return f.read().decode("utf-8", errors="replace")

    def new_logs(self) -> dict[Path, str]:
        return {p: text for p in sorted(self._files) if (text := self.new_text(p))}

    def scan(
        self,
        canaries: Canaries,
        responses: list[bytes],
        upstream_requests: list[RecordedRequest],
    ) -> list[str]:
        found = []
        for path, text in self.new_logs().items():
            for label, secret in (("master key", canaries.master_key), ("upstream key", canaries.upstream_key)):
                if secret in text:
                    found.append(f"{label} in {path}")
        key = canaries.master_key.encode()
        if any(key in data for data in responses):
            found.append("master key in a response the client received")
        for rec in upstream_requests:
            seen = rec.target + "\n" + "\n".join(f"{k}: {v}" for k, v in rec.headers)
            if canaries.master_key in seen or key in rec.body:
                found.append(f"master key sent upstream in {rec.method} {rec.target}")
        return found
