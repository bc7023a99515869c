"""Usage metering and the spend ledger: what each response used, read as it passes, priced,
logged, counted in /metrics and kept in the SQLite ledger that `/spend/logs`, `/key/info`
and `fcgi-pass-through usage` read.

docs/USAGE.md is the contract (Metering; Providers and prices; The ledger). The upstream
is the recording mock replaying recorded provider responses (harness/usage_shapes.py,
`/replay/<name>`); every request goes through the private nginx and real gateways. The
ledger file is read directly with python's sqlite3, read-only, beside the gateway.

Client keys of this module never leave: after every test they are searched for in the new
part of every log, in what clients received, in what the upstream received and in the
ledger files (which hold their SHA-256 only).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import signal
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from harness.assertions import bearer
from harness.key_watch import ClientKeyWatch, digest
from harness.gateway import EXIT_USAGE, base_env, run_cli
from harness.probes import sample_values
from harness.usage_shapes import (
    ANTHROPIC_JSON,
    ANTHROPIC_SSE,
    ANTHROPIC_SSE_START_ONLY,
    COHERE_CHAT_V2,
    COHERE_RERANK,
    GEMINI_ARRAY,
    GEMINI_JSON,
    GEMINI_SSE,
    HTML_ERROR_PAGE,
    OPENAI_CHAT,
    OPENAI_CHAT_SSE,
    OPENAI_CHAT_SSE_NO_USAGE,
    OPENAI_RESPONSES_SSE,
    Counts,
    Shape,
)
from harness.waiting import wait_until

# ==================================================================================================
# Client keys of this module, and the scan that keeps them in the client's hands.
# ==================================================================================================


WATCH = ClientKeyWatch(("u-shapes", "u-claude", "sp-a", "sp-b", "u-wrong"))
KEYS = WATCH.by_alias


@pytest.fixture(autouse=True)
def _client_keys_never_leave(mock):
    WATCH.begin()
    yield
    WATCH.assert_no_leak(mock)


# ==================================================================================================
# Prices, expected costs, and reading the four places a request's usage shows up.
# ==================================================================================================


PRICES = {
    "sample_spec": {
        "max_tokens": "LEGACY parameter. set to max_output_tokens if provider specifies it.",
        "input_cost_per_token": 0.0,
        "output_cost_per_token": 0.0,
        "litellm_provider": "one of https://docs.litellm.ai/docs/providers",
        "mode": "one of: chat, embedding, completion, image_generation, audio_transcription, audio_speech, rerank",
    },
    "gpt-4o": {"input_cost_per_token": 2.5e-06, "output_cost_per_token": 1e-05, "cache_read_input_token_cost": 1.25e-06,
               "litellm_provider": "openai", "mode": "chat"},
    "gpt-4o-mini": {"input_cost_per_token": 1.5e-07, "output_cost_per_token": 6e-07, "cache_read_input_token_cost": 7.5e-08,
                    "litellm_provider": "openai", "mode": "chat"},
    "claude-3-5-sonnet-20241022": {"input_cost_per_token": 3e-06, "output_cost_per_token": 1.5e-05,
                                   "cache_creation_input_token_cost": 3.75e-06, "cache_read_input_token_cost": 3e-07,
                                   "litellm_provider": "anthropic", "mode": "chat"},
    "gemini/gemini-1.5-pro": {"input_cost_per_token": 1.25e-06, "output_cost_per_token": 5e-06,
                              "cache_read_input_token_cost": 3.125e-07, "litellm_provider": "gemini", "mode": "chat"},
    # No cache price: a cached token costs the input price (docs/USAGE.md).
    "gemini/gemini-2.0-flash": {"input_cost_per_token": 1e-07, "output_cost_per_token": 4e-07,
                                "litellm_provider": "gemini", "mode": "chat"},
    "rerank-english-v3.0": {"input_cost_per_token": 0.0, "output_cost_per_token": 0.0, "input_cost_per_query": 0.002,
                            "litellm_provider": "cohere", "mode": "rerank"},
    "command-r-plus-08-2024": {"input_cost_per_token": 2.5e-06, "output_cost_per_token": 1e-05,
                               "litellm_provider": "cohere_chat", "mode": "chat"},
}


def expected_cost(fmt: str, price: dict | None, counts: Counts, per_request: float = 0.0) -> float:
    """docs/USAGE.md, "What a response costs"."""
    if price is None:
        return per_request
    inp = price.get("input_cost_per_token", 0.0)
    out = price.get("output_cost_per_token", 0.0)
    read = price.get("cache_read_input_token_cost", inp)
    write = price.get("cache_creation_input_token_cost", inp)
    if fmt == "anthropic":
        uncached = counts.input
    else:
        uncached = max(counts.input - counts.cache_read - counts.cache_write, 0)
    tokens = uncached * inp + (counts.cache_read * read + counts.cache_write * write) + counts.output * out
    if counts.search_units:
        tokens += counts.search_units * price.get("input_cost_per_query", 0.0)
    return per_request + tokens


def close_to(value: float, expected: float) -> bool:
    return value == pytest.approx(expected, rel=1e-9, abs=1e-15)


def ledger(db: Path, where: str = "", args: tuple = ()) -> list[dict]:
    """Rows of the ledger, read-only; [] while the file or its table does not exist yet."""
    if not db.exists():
        return []
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
    con.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in con.execute(f"SELECT * FROM spend_logs {where}", args)]
    except sqlite3.OperationalError as error:
        if "no such table" in str(error) or "locked" in str(error):
            return []
        raise
    finally:
        con.close()


def row_of(db: Path, request_id: str, timeout: float = 1.5) -> dict:
    rows = wait_until(lambda: ledger(db, "WHERE request_id = ?", (request_id,)), timeout, f"the ledger row of {request_id}", interval=0.05)
    assert len(rows) == 1, rows
    return rows[0]


def log_entry(stack, request_id: str) -> dict:
    """The gateway's JSON request line for `request_id`."""

    def find():
        found = []
        for line in stack.gateway_logs().splitlines():
            if line.startswith("{") and request_id in line:
                entry = json.loads(line)
                if entry.get("request_id") == request_id:
                    found.append(entry)
        return found

    entries = wait_until(find, 3, f"the request line of {request_id}")
    assert len(entries) == 1, entries
    return entries[0]


def metric(text: str, name: str, **labels: str) -> float:
    return sum(sample_values(text, name, **labels))


def spend_logs(stack, query: str, headers) -> list:
    resp = stack.request("GET", "/spend/logs?" + query, headers)
    assert resp.status == 200, resp
    assert (resp.header("Content-Type") or "").startswith("application/json"), resp
    body = resp.json()
    assert isinstance(body, list), body
    return body


def iso_seconds(text: str) -> float:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


# ==================================================================================================
# One stack with an endpoint per recorded shape.
# ==================================================================================================


USAGE = """
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
  model_cost_map: {prices}
  usage_db: {db}
  keys:
    - key_alias: u-shapes
      key_hash: {hash:u-shapes}
    - key_alias: u-claude
      key_hash: {hash:u-claude}
  pass_through_endpoints:
    - path: /s/openai-chat
      id: openai-chat
      provider: openai
      target: {upstream}/replay/openai-chat
      cost_per_request: 0.001
    - path: /s/openai-chat-split
      id: openai-chat-split
      provider: openai
      target: {upstream}/replay/openai-chat
    - path: /s/openai-endpoint-price
      id: openai-endpoint-price
      usage: openai
      include_subpath: true
      target: {upstream}/replay/openai-chat
      headers:
        Authorization: "Bearer os.environ/OPENAI_API_KEY"
      input_cost_per_token: 0.000001
      output_cost_per_token: 0.000002
    - path: /s/openai-chat-sse
      id: openai-chat-sse
      provider: openai
      target: {upstream}/replay/openai-chat-sse
    - path: /s/openai-responses-sse
      id: openai-responses-sse
      provider: openai
      target: {upstream}/replay/openai-responses-sse
    - path: /s/anthropic-json
      id: anthropic-json
      provider: anthropic
      target: {upstream}/replay/anthropic-json
    - path: /s/anthropic-sse
      id: anthropic-sse
      provider: anthropic
      target: {upstream}/replay/anthropic-sse
    - path: /s/gemini-json
      id: gemini-json
      provider: gemini
      target: {upstream}/replay/gemini-json
    - path: /s/gemini-sse
      id: gemini-sse
      usage: gemini
      include_subpath: true
      target: {upstream}/replay/gemini-sse
      headers:
        x-goog-api-key: os.environ/SECOND_API_KEY
    - path: /s/gemini-array
      id: gemini-array
      usage: gemini
      include_subpath: true
      target: {upstream}/replay/gemini-array
      headers:
        x-goog-api-key: os.environ/SECOND_API_KEY
    - path: /s/cohere-rerank
      id: cohere-rerank
      provider: cohere
      target: {upstream}/replay/cohere-rerank
    - path: /s/cohere-chat-v2
      id: cohere-chat-v2
      provider: cohere
      target: {upstream}/replay/cohere-chat-v2
    - path: /s/anthropic-cut
      id: anthropic-cut
      provider: anthropic
      target: {upstream}/replay/anthropic-sse
    - path: /s/anthropic-gone
      id: anthropic-gone
      provider: anthropic
      target: {upstream}/replay/anthropic-sse
    - path: /s/usage-none
      id: usage-none
      include_subpath: true
      target: {upstream}/replay/openai-chat
      cost_per_request: 0.0025
    - path: /s/unreadable-html
      id: unreadable-html
      usage: openai
      include_subpath: true
      target: {upstream}/replay/html-page
    - path: /s/unreadable-stream
      id: unreadable-stream
      provider: openai
      target: {upstream}/replay/openai-chat-sse-no-usage
    - path: /s/unpriced
      id: unpriced
      usage: openai
      include_subpath: true
      target: {upstream}/replay/openai-chat
      cost_per_request: 0.01
    - path: /s/upstream-error
      id: upstream-error
      provider: openai
      target: {upstream}/replay/openai-chat
      cost_per_request: 0.001
    - {path: /anthropic, provider: anthropic, target: "{upstream}/replay/anthropic-sse"}
"""


def start(factory, template: str, db: Path | None = None, **kwargs):
    """A stack with the price map and ledger in a private directory; returns (stack, db)."""
    home = factory.workdir()
    prices = home / "model_prices_and_context_window.json"
    prices.write_text(json.dumps(PRICES, indent=2))
    db = db or home / "usage.db"
    stack = factory(WATCH.render(template, prices=str(prices), db=str(db)), **kwargs)
    WATCH.add_stack(stack)
    WATCH.add_db(db)
    return stack, db


@pytest.fixture(scope="module")
def usage(stacks, canaries):
    env = {"OPENAI_API_KEY": canaries.upstream_key, "ANTHROPIC_API_KEY": canaries.second_key, "GEMINI_API_KEY": canaries.second_key}
    return start(stacks, USAGE, env=env, extra_args=["--log-format", "json"])


def chat_body(model: str, **extra) -> bytes:
    return json.dumps({"model": model, "messages": [{"role": "user", "content": "Hello"}], **extra}).encode()


@dataclass(frozen=True)
class Case:
    route: str
    shape: Shape
    target: str
    body: bytes
    model: str
    fmt: str
    price: dict | None
    per_request: float = 0.0
    counts: Counts | None = None

    @property
    def expected(self) -> Counts:
        return self.counts or self.shape.counts


GEMINI_BODY = json.dumps({"contents": [{"role": "user", "parts": [{"text": "What is the answer?"}]}]}).encode()

CASES = [
    Case("openai-chat", OPENAI_CHAT, "/s/openai-chat/v1/chat/completions", chat_body("gpt-4o"), "gpt-4o", "openai",
         PRICES["gpt-4o"], per_request=0.001),
    # The same body in 13-byte chunks: numbers, names and strings split across reads.
    Case("openai-chat-split", OPENAI_CHAT, "/s/openai-chat-split/v1/chat/completions?split=13&interval=0", chat_body("gpt-4o"),
         "gpt-4o", "openai", PRICES["gpt-4o"]),
    Case("openai-endpoint-price", OPENAI_CHAT, "/s/openai-endpoint-price/v1/chat/completions", chat_body("gpt-4o"), "gpt-4o",
         "openai", {**PRICES["gpt-4o"], "input_cost_per_token": 0.000001, "output_cost_per_token": 0.000002}),
    Case("openai-chat-sse", OPENAI_CHAT_SSE, "/s/openai-chat-sse/v1/chat/completions",
         chat_body("gpt-4o-mini", stream=True, stream_options={"include_usage": True}), "gpt-4o-mini", "openai", PRICES["gpt-4o-mini"]),
    Case("openai-responses-sse", OPENAI_RESPONSES_SSE, "/s/openai-responses-sse/v1/responses",
         json.dumps({"model": "gpt-4o-mini", "input": "Say hi", "stream": True}).encode(), "gpt-4o-mini", "openai", PRICES["gpt-4o-mini"]),
    Case("anthropic-json", ANTHROPIC_JSON, "/s/anthropic-json/v1/messages", chat_body("claude-3-5-sonnet-20241022", max_tokens=1024),
         "claude-3-5-sonnet-20241022", "anthropic", PRICES["claude-3-5-sonnet-20241022"]),
    Case("anthropic-sse", ANTHROPIC_SSE, "/s/anthropic-sse/v1/messages",
         chat_body("claude-3-5-sonnet-20241022", max_tokens=1024, stream=True), "claude-3-5-sonnet-20241022", "anthropic",
         PRICES["claude-3-5-sonnet-20241022"]),
    Case("gemini-json", GEMINI_JSON, "/s/gemini-json/v1beta/models/gemini-1.5-pro:generateContent", GEMINI_BODY, "gemini-1.5-pro",
         "gemini", PRICES["gemini/gemini-1.5-pro"]),
    Case("gemini-sse", GEMINI_SSE, "/s/gemini-sse/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse", GEMINI_BODY,
         "gemini-2.0-flash", "gemini", PRICES["gemini/gemini-2.0-flash"]),
    Case("gemini-array", GEMINI_ARRAY, "/s/gemini-array/v1beta/models/gemini-2.0-flash:streamGenerateContent", GEMINI_BODY,
         "gemini-2.0-flash", "gemini", PRICES["gemini/gemini-2.0-flash"]),
    Case("cohere-rerank", COHERE_RERANK, "/s/cohere-rerank/v1/rerank",
         json.dumps({"model": "rerank-english-v3.0", "query": "capital of the US?", "top_n": 3,
                     "documents": ["Carson City", "Saipan", "Washington, D.C.", "Capital punishment", "Charlotte Amalie"]}).encode(),
         "rerank-english-v3.0", "cohere", PRICES["rerank-english-v3.0"]),
    Case("cohere-chat-v2", COHERE_CHAT_V2, "/s/cohere-chat-v2/v2/chat", chat_body("command-r-plus-08-2024"),
         "command-r-plus-08-2024", "cohere", PRICES["command-r-plus-08-2024"]),
]

JSON_CT = [("Content-Type", "application/json")]


def check_row(row: dict, case: Case, request_id: str, alias: str, *, partial: bool = False, metered: bool = True) -> float:
    """The ledger row against the case; returns the expected cost."""
    counts = case.expected
    cost = expected_cost(case.fmt, case.price, counts, case.per_request)
    got = {name: row[name] for name in ("request_id", "key_alias", "key_hash", "route", "method", "model", "status",
                                        "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
                                        "search_units", "partial", "metered")}
    assert got == {
        "request_id": request_id, "key_alias": alias, "key_hash": digest(KEYS[alias]), "route": case.route, "method": "POST",
        "model": case.model, "status": 200,
        "input_tokens": counts.input, "output_tokens": counts.output, "cache_read_tokens": counts.cache_read,
        "cache_write_tokens": counts.cache_write, "search_units": counts.search_units,
        "partial": int(partial), "metered": int(metered),
    }
    assert close_to(row["cost"], cost), (row["cost"], cost)
    assert row["start_time"] <= row["end_time"] and abs(row["start_time"] - time.time()) < 60, row
    assert row["duration_ms"] >= 0, row
    return cost


def check_log(entry: dict, row: dict, *, usage_flag: str | None = None) -> None:
    """The request line agrees with the row exactly."""
    assert entry["model"] == row["model"], entry
    for name in ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens"):
        assert int(entry[name]) == row[name], (name, entry)
    if row["search_units"] > 0:
        assert int(entry["search_units"]) == row["search_units"], entry
    else:
        assert "search_units" not in entry, entry
    assert float(entry["cost"]) == row["cost"], (entry["cost"], row["cost"])
    assert entry.get("usage") == usage_flag, entry


def check_metrics(stack, row: dict, alias: str) -> None:
    """Each route of these tests serves one request: its counters are the row's."""
    text = stack.request("GET", "/metrics").body.decode()
    labels = {"route": row["route"], "key_alias": alias, "model": row["model"]}
    for kind, column in (("input", "input_tokens"), ("output", "output_tokens"), ("cache_read", "cache_read_tokens"),
                         ("cache_write", "cache_write_tokens")):
        assert metric(text, "fcgi_pass_through_tokens_total", type=kind, **labels) == row[column], (kind, row)
    assert metric(text, "fcgi_pass_through_cost_usd_total", **labels) == row["cost"], row
    assert metric(text, "fcgi_pass_through_search_units_total", route=row["route"], key_alias=alias) == row["search_units"]


def check_spend_log(stack, key, row: dict, alias: str) -> None:
    listed = spend_logs(stack, f"summarize=false&key_alias={alias}&page_size=1000", key)
    mine = [r for r in listed if r["request_id"] == row["request_id"]]
    assert len(mine) == 1, [r.get("request_id") for r in listed]
    got = mine[0]
    assert got["model"] == row["model"] and got["spend"] == row["cost"], got
    assert (got["prompt_tokens"], got["completion_tokens"], got["total_tokens"]) == (
        row["input_tokens"], row["output_tokens"], row["input_tokens"] + row["output_tokens"]), got
    assert got["api_key"] == digest(KEYS[alias]), got
    meta = got["metadata"]
    assert meta["user_api_key_alias"] == alias and meta["route"] == row["route"] and meta["status"] == row["status"], meta
    assert meta["cache_read_input_tokens"] == row["cache_read_tokens"], meta
    assert meta["cache_creation_input_tokens"] == row["cache_write_tokens"], meta
    assert meta["search_units"] == row["search_units"], meta
    assert meta["partial"] is bool(row["partial"]) and meta["metered"] is bool(row["metered"]), meta
    assert abs(iso_seconds(got["startTime"]) - row["start_time"]) < 0.001, (got["startTime"], row["start_time"])
    assert abs(iso_seconds(got["endTime"]) - row["end_time"]) < 0.001, (got["endTime"], row["end_time"])


# ==================================================================================================
# 1. Every shape: the body passes unchanged; log, metrics, ledger and /spend/logs agree.
# ==================================================================================================


@pytest.mark.parametrize("case", CASES, ids=[c.route for c in CASES])
def test_each_shape_passes_unchanged_and_is_metered_alike_everywhere(usage, mock, key, case):
    stack, db = usage
    resp = stack.request("POST", case.target, WATCH.as_key("u-shapes") + JSON_CT, case.body)
    assert resp.status == 200 and resp.complete, resp
    assert resp.body == case.shape.body, "the body changed on its way through"
    assert resp.header("Content-Type") == case.shape.content_type, resp.headers
    rec = mock.only_request()
    assert rec.body == case.body
    request_id = resp.header("x-litellm-call-id")
    assert request_id, resp.headers

    # In /spend/logs within a second of the response.
    wait_until(
        lambda: [r for r in spend_logs(stack, "summarize=false&key_alias=u-shapes&page_size=1000", key) if r["request_id"] == request_id],
        1.0, "the row in /spend/logs", interval=0.05,
    )
    row = row_of(db, request_id)
    check_row(row, case, request_id, "u-shapes")
    check_log(log_entry(stack, request_id), row)
    check_metrics(stack, row, "u-shapes")
    check_spend_log(stack, key, row, "u-shapes")


# ==================================================================================================
# 2. Streams that end early: cut by the upstream, or left by the client.
# ==================================================================================================


CUT = Case("anthropic-cut", ANTHROPIC_SSE, "/s/anthropic-cut/v1/messages?cut_after=5",
           chat_body("claude-3-5-sonnet-20241022", max_tokens=1024, stream=True), "claude-3-5-sonnet-20241022", "anthropic",
           PRICES["claude-3-5-sonnet-20241022"], counts=ANTHROPIC_SSE_START_ONLY)
GONE = Case("anthropic-gone", ANTHROPIC_SSE, "/s/anthropic-gone/v1/messages?interval=0.3",
            chat_body("claude-3-5-sonnet-20241022", max_tokens=1024, stream=True), "claude-3-5-sonnet-20241022", "anthropic",
            PRICES["claude-3-5-sonnet-20241022"], counts=ANTHROPIC_SSE_START_ONLY)


def test_a_stream_the_upstream_cuts_is_partial_with_what_was_seen(usage, mock, key):
    """Cut after message_start and two deltas, before message_delta: the input and cache
    counts of message_start are kept, and its output count (1)."""
    stack, db = usage
    resp = stack.request("POST", CUT.target, WATCH.as_key("u-shapes") + JSON_CT, CUT.body)
    assert resp.status == 200 and not resp.complete, resp
    # What the upstream sent before its cut, or less: nginx may drop the last bytes it read
    # together with the gateway's abort record (it fails the request on that record). The
    # meter reads what the gateway wrote; message_start, which holds the counts, went well
    # before the cut.
    sent = b"".join(ANTHROPIC_SSE.pieces[:5])
    assert sent.startswith(resp.body) and resp.body.startswith(ANTHROPIC_SSE.pieces[0]), resp
    request_id = resp.header("x-litellm-call-id")
    row = row_of(db, request_id)
    check_row(row, CUT, request_id, "u-shapes", partial=True)
    check_log(log_entry(stack, request_id), row, usage_flag="partial")
    check_spend_log(stack, key, row, "u-shapes")


@pytest.mark.timeout_s(20)
def test_a_client_that_leaves_mid_stream_leaves_a_partial_row_with_what_was_seen(usage, mock, key):
    """The client reads message_start, content_block_start and ping (0.3 s apart), then
    closes; message_delta would come 1.2 s later. The provider bills what it produced: the
    row keeps message_start's counts, priced."""
    stack, db = usage
    exchange = stack.exchange("POST", GONE.target, WATCH.as_key("u-shapes") + JSON_CT, GONE.body)
    try:
        exchange.read_head()
        assert exchange.status == 200
        request_id = exchange.header("x-litellm-call-id")
        seen = 0
        for _ in exchange.iter_events():
            seen += 1
            if seen == 3:
                break
    finally:
        exchange.close()
    rec = mock.only_request()
    assert rec.closed.wait(5), "the gateway kept the upstream stream after the client left"
    assert len(rec.events_sent_at) < len(ANTHROPIC_SSE.pieces) - 1, "message_delta was sent before the client left"
    row = wait_until(lambda: ledger(db, "WHERE request_id = ?", (request_id,)), 3, "the row of the abandoned stream", interval=0.05)[0]
    counts = GONE.expected
    assert (row["input_tokens"], row["output_tokens"], row["cache_read_tokens"], row["cache_write_tokens"]) == (
        counts.input, counts.output, counts.cache_read, counts.cache_write), row
    assert row["partial"] == 1 and row["metered"] == 1 and row["model"] == GONE.model, row
    assert row["key_alias"] == "u-shapes" and row["route"] == "anthropic-gone", row
    assert close_to(row["cost"], expected_cost("anthropic", GONE.price, counts)), (row["cost"], row["status"])
    entry = log_entry(stack, request_id)
    check_log(entry, row, usage_flag="partial")


# ==================================================================================================
# 3, 4. Nothing to read, unreadable, unpriced, refused upstream.
# ==================================================================================================


def test_an_endpoint_without_usage_records_a_row_with_zero_tokens(usage, mock, key):
    stack, db = usage
    resp = stack.request("POST", "/s/usage-none/v1/chat/completions", WATCH.as_key("u-shapes") + JSON_CT, chat_body("gpt-4o"))
    assert resp.status == 200 and resp.body == OPENAI_CHAT.body, resp
    request_id = resp.header("x-litellm-call-id")
    row = row_of(db, request_id)
    assert (row["input_tokens"], row["output_tokens"], row["cache_read_tokens"], row["cache_write_tokens"], row["search_units"]) == (0,) * 5, row
    assert row["route"] == "usage-none" and row["status"] == 200 and row["partial"] == 0, row
    assert close_to(row["cost"], 0.0025), row
    entry = log_entry(stack, request_id)
    for name in ("model", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "search_units"):
        assert name not in entry, (name, entry)
    assert float(entry["cost"]) == row["cost"], entry


@pytest.mark.parametrize(
    "route, target, body, shape",
    [
        ("unreadable-html", "/s/unreadable-html/v1/chat/completions", chat_body("gpt-4o"), HTML_ERROR_PAGE),
        ("unreadable-stream", "/s/unreadable-stream/v1/chat/completions", chat_body("gpt-4o-mini", stream=True), OPENAI_CHAT_SSE_NO_USAGE),
    ],
    ids=["html-body", "stream-without-include-usage"],
)
def test_a_response_the_format_cannot_read_is_unmetered_and_still_200(usage, mock, key, route, target, body, shape):
    stack, db = usage
    resp = stack.request("POST", target, WATCH.as_key("u-shapes") + JSON_CT, body)
    assert resp.status == 200 and resp.complete and resp.body == shape.body, resp
    request_id = resp.header("x-litellm-call-id")
    row = row_of(db, request_id)
    assert row["metered"] == 0 and row["partial"] == 0 and row["status"] == 200 and row["route"] == route, row
    assert (row["input_tokens"], row["output_tokens"], row["cache_read_tokens"], row["cache_write_tokens"]) == (0, 0, 0, 0), row
    assert row["cost"] == 0, row
    entry = log_entry(stack, request_id)
    assert entry.get("usage") == "unmetered", entry
    text = stack.request("GET", "/metrics").body.decode()
    assert metric(text, "fcgi_pass_through_unmetered_total", route=route) == 1, [l for l in text.splitlines() if "unmetered" in l]


def test_an_unpriced_model_records_tokens_and_costs_only_cost_per_request(usage, mock, key):
    stack, db = usage
    resp = stack.request("POST", "/s/unpriced/v1/chat/completions", WATCH.as_key("u-shapes") + JSON_CT, chat_body("gpt-unknown-9"))
    assert resp.status == 200 and resp.body == OPENAI_CHAT.body, resp
    request_id = resp.header("x-litellm-call-id")
    row = row_of(db, request_id)
    counts = OPENAI_CHAT.counts
    assert (row["model"], row["input_tokens"], row["output_tokens"], row["cache_read_tokens"]) == (
        "gpt-unknown-9", counts.input, counts.output, counts.cache_read), row
    assert row["metered"] == 1 and close_to(row["cost"], 0.01), row
    entry = log_entry(stack, request_id)
    assert entry["model"] == "gpt-unknown-9" and float(entry["cost"]) == row["cost"], entry
    text = stack.request("GET", "/metrics").body.decode()
    assert metric(text, "fcgi_pass_through_unpriced_total", route="unpriced", model="gpt-unknown-9") == 1
    assert metric(text, "fcgi_pass_through_cost_usd_total", route="unpriced", key_alias="u-shapes", model="gpt-unknown-9") == row["cost"]


def test_an_upstream_error_costs_nothing(usage, mock, key):
    """cost_per_request and tokens are charged for answers below 400 only."""
    stack, db = usage
    resp = stack.request("POST", "/s/upstream-error/v1/chat/completions?status=500", WATCH.as_key("u-shapes") + JSON_CT, chat_body("gpt-4o"))
    assert resp.status == 500 and resp.body == OPENAI_CHAT.body, resp
    request_id = resp.header("x-litellm-call-id")
    row = row_of(db, request_id)
    assert row["status"] == 500 and row["cost"] == 0, row
    assert float(log_entry(stack, request_id)["cost"]) == 0


# ==================================================================================================
# 10. Claude Code's way in: ANTHROPIC_BASE_URL=<gateway>/anthropic, ANTHROPIC_API_KEY=<client key>.
# ==================================================================================================


CLAUDE_CODE_BODY = json.dumps(
    {
        "model": "claude-3-5-sonnet-20241022",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Fix the failing test in src/app.py",
                                                    "cache_control": {"type": "ephemeral"}}]}],
        "temperature": 1,
        "system": [{"type": "text", "text": "You are Claude Code, Anthropic's official CLI for Claude.",
                    "cache_control": {"type": "ephemeral"}}],
        "tools": [{"name": "Bash", "description": "Executes a bash command",
                   "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]}}],
        "metadata": {"user_id": "user_3f2a_account__session_9c1e"},
        "max_tokens": 32000,
        "stream": True,
    },
    separators=(",", ":"),
).encode()


def test_claude_code_style_client_key_in_x_api_key_is_swapped_for_the_provider_key(usage, mock, key, canaries):
    stack, db = usage
    headers = [
        ("x-api-key", KEYS["u-claude"]),
        ("anthropic-version", "2023-06-01"),
        ("anthropic-beta", "claude-code-20250219,interleaved-thinking-2025-05-14,fine-grained-tool-streaming-2025-05-14"),
        ("anthropic-dangerous-direct-browser-access", "true"),
        ("x-app", "cli"),
        ("User-Agent", "claude-cli/1.0.83 (external, cli)"),
        ("Accept", "application/json"),
        ("Content-Type", "application/json"),
    ]
    resp = stack.request("POST", "/anthropic/v1/messages?beta=true", headers, CLAUDE_CODE_BODY)
    assert resp.status == 200 and resp.complete and resp.body == ANTHROPIC_SSE.body, resp
    assert resp.header("x-litellm-key-alias") == "u-claude"
    rec = mock.only_request()
    assert rec.path == "/replay/anthropic-sse/v1/messages" and rec.query == "beta=true", rec.target
    assert rec.body == CLAUDE_CODE_BODY
    assert rec.header_values("x-api-key") == [canaries.second_key], "the provider key, once, never the client's"
    assert rec.header_values("anthropic-version") == ["2023-06-01"]
    assert rec.header("Authorization") is None
    request_id = resp.header("x-litellm-call-id")
    row = row_of(db, request_id)
    case = Case("/anthropic", ANTHROPIC_SSE, "", CLAUDE_CODE_BODY, "claude-3-5-sonnet-20241022", "anthropic",
                PRICES["claude-3-5-sonnet-20241022"])
    check_row(row, case, request_id, "u-claude")
    check_log(log_entry(stack, request_id), row)


# ==================================================================================================
# 5, 6, 9. /spend/logs, /key/info and `fcgi-pass-through usage` over a ledger of known rows.
# ==================================================================================================


SPEND = """
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
  model_cost_map: {prices}
  usage_db: {db}
  keys:
    - key_alias: sp-a
      key_hash: {hash:sp-a}
    - key_alias: sp-b
      key_hash: {hash:sp-b}
  pass_through_endpoints:
    - path: /anthropic
      provider: anthropic
      target: {upstream}/replay/anthropic-json
      cost_per_request: 0.5
    - path: /rerank
      id: rerank
      provider: cohere
      target: {upstream}/replay/cohere-rerank
"""


@dataclass
class Ledger:
    stack: object
    db: Path
    ids: dict[str, list[str]] = field(default_factory=dict)  # key alias (or "master") -> request ids, oldest first
    day: dt.date = dt.date(1970, 1, 1)


ANTHROPIC_BODY = chat_body("claude-3-5-sonnet-20241022", max_tokens=64)
RERANK_BODY = json.dumps({"model": "rerank-english-v3.0", "query": "q", "documents": ["a", "b", "c"]}).encode()


@pytest.fixture(scope="module")
def spend(stacks, canaries, mock):
    stack, db = start(stacks, SPEND, env={"ANTHROPIC_API_KEY": canaries.second_key})
    book = Ledger(stack, db, {"sp-a": [], "sp-b": [], "master": []})
    plan = [("sp-a", "/anthropic/v1/messages", ANTHROPIC_BODY)] * 4 + [("sp-a", "/rerank/v1/rerank", RERANK_BODY)]
    plan += [("sp-b", "/anthropic/v1/messages", ANTHROPIC_BODY)] * 2 + [("sp-b", "/rerank/v1/rerank", RERANK_BODY)]
    plan += [("master", "/anthropic/v1/messages", ANTHROPIC_BODY)]
    for who, target, body in plan:
        headers = bearer(canaries.master_key) if who == "master" else WATCH.as_key(who)
        resp = stack.request("POST", target, headers + JSON_CT, body)
        assert resp.status == 200, resp
        book.ids[who].append(resp.header("x-litellm-call-id"))
    book.day = dt.datetime.now(dt.timezone.utc).date()
    # Refused by the gateway itself: no rows.
    assert stack.request("POST", "/anthropic/v1/messages", JSON_CT, ANTHROPIC_BODY).status == 401
    assert stack.request("POST", "/anthropic/v1/messages", WATCH.as_key("u-wrong") + JSON_CT, ANTHROPIC_BODY).status == 401
    wait_until(lambda: len(ledger(db)) >= len(plan), 1.5, "every row of the plan in the ledger", interval=0.05)
    return book


def test_gateway_refusals_write_no_row_and_each_forwarded_request_writes_one(spend, mock):
    rows = ledger(spend.db)
    assert sorted(r["request_id"] for r in rows) == sorted(i for ids in spend.ids.values() for i in ids)
    by_id = {r["request_id"]: r for r in rows}
    for alias in ("sp-a", "sp-b"):
        assert {by_id[i]["key_alias"] for i in spend.ids[alias]} == {alias}
        assert {by_id[i]["key_hash"] for i in spend.ids[alias]} == {digest(KEYS[alias])}
    master = by_id[spend.ids["master"][0]]
    assert master["key_hash"] in ("", digest(spend.stack.gateways[0].env["LITELLM_MASTER_KEY"])), master
    # Anthropic rows: cost_per_request plus tokens; rerank rows: search units.
    price = PRICES["claude-3-5-sonnet-20241022"]
    for rid in spend.ids["sp-a"][:4]:
        assert close_to(by_id[rid]["cost"], expected_cost("anthropic", price, ANTHROPIC_JSON.counts, 0.5)), by_id[rid]
    assert close_to(by_id[spend.ids["sp-a"][4]]["cost"], 0.004), by_id[spend.ids["sp-a"][4]]
    assert by_id[spend.ids["sp-a"][4]]["search_units"] == 2


def test_spend_logs_is_for_the_master_key_only(spend, mock, key):
    stack = spend.stack
    resp = stack.request("GET", "/spend/logs?summarize=false")
    assert resp.status == 401, resp
    resp = stack.request("GET", "/spend/logs?summarize=false", WATCH.as_key("sp-a"))
    assert resp.status == 403, resp
    resp = stack.request("GET", "/spend/logs?summarize=false", WATCH.as_key("u-wrong"))
    assert resp.status == 401, resp
    assert stack.request("GET", "/spend/logs?summarize=false", key).status == 200
    assert mock.requests == []


def test_spend_logs_rows_filtered_by_key_alias_and_date(spend, mock, key):
    stack, today = spend.stack, spend.day
    everything = spend_logs(stack, "summarize=false", key)
    assert sorted(r["request_id"] for r in everything) == sorted(i for ids in spend.ids.values() for i in ids)
    starts = [iso_seconds(r["startTime"]) for r in everything]
    assert starts == sorted(starts, reverse=True), "rows are listed newest first"
    for alias in ("sp-a", "sp-b"):
        rows = spend_logs(stack, f"summarize=false&key_alias={alias}", key)
        assert sorted(r["request_id"] for r in rows) == sorted(spend.ids[alias]), alias
        assert {r["api_key"] for r in rows} == {digest(KEYS[alias])}
        assert {r["metadata"]["user_api_key_alias"] for r in rows} == {alias}
        assert {r["status"] for r in rows} == {"success"} and {r["call_type"] for r in rows} == {"pass_through_endpoint"}
    master = [r for r in everything if r["request_id"] in spend.ids["master"]]
    assert master and master[0]["api_key"] in ("", digest(stack.gateways[0].env["LITELLM_MASTER_KEY"])), master
    assert spend_logs(stack, "summarize=false&key_alias=no-such-alias", key) == []
    day = dt.timedelta(days=1)
    within = spend_logs(stack, f"summarize=false&start_date={today}&end_date={today + day}", key)
    assert len(within) == len(everything)
    assert spend_logs(stack, f"summarize=false&start_date={today + day}&end_date={today + 2 * day}", key) == []
    assert spend_logs(stack, f"summarize=false&start_date={today - 3 * day}&end_date={today - day}", key) == []
    both = spend_logs(stack, f"summarize=false&key_alias=sp-b&start_date={today}&end_date={today + day}", key)
    assert sorted(r["request_id"] for r in both) == sorted(spend.ids["sp-b"])


def test_spend_logs_pages(spend, mock, key):
    stack = spend.stack
    pages = [spend_logs(stack, f"summarize=false&key_alias=sp-a&page_size=2&page={n}", key) for n in (1, 2, 3, 4)]
    assert [len(p) for p in pages] == [2, 2, 1, 0], pages
    ids = [r["request_id"] for p in pages for r in p]
    assert ids == list(reversed(spend.ids["sp-a"])), "pages walk the rows newest first, each once"
    assert [r["request_id"] for r in spend_logs(stack, "summarize=false&key_alias=sp-a&page_size=1000", key)] == ids
    assert [r["request_id"] for r in spend_logs(stack, "summarize=false&key_alias=sp-a&page=1", key)] == ids


@pytest.mark.parametrize(
    "query",
    [
        "summarize=false&page=0", "summarize=false&page=-1", "summarize=false&page=x", "summarize=false&page=",
        "summarize=false&page_size=0", "summarize=false&page_size=1001", "summarize=false&page_size=ten",
        "summarize=false&start_date=2026-13-01", "summarize=false&start_date=06/12/2026", "summarize=false&end_date=tomorrow",
        "start_date=2026-12-01&end_date=2026-12-40", "summarize=maybe",
    ],
)
def test_spend_logs_bad_parameters_are_400(spend, mock, key, query):
    resp = spend.stack.request("GET", "/spend/logs?" + query, key)
    assert resp.status == 400, resp
    error = resp.json()["error"]
    assert error["code"] == "400" and error["message"], error


def test_spend_logs_summarized_per_day_by_default(spend, mock, key):
    stack, today = spend.stack, spend.day
    rows = ledger(spend.db)
    summary = spend_logs(stack, f"start_date={today}&end_date={today + dt.timedelta(days=1)}", key)
    assert len(summary) == 1, summary
    entry = summary[0]
    assert entry["startTime"] == str(today), entry
    assert close_to(entry["spend"], sum(r["cost"] for r in rows)), entry
    for alias in ("sp-a", "sp-b"):
        assert close_to(entry[digest(KEYS[alias])], sum(r["cost"] for r in rows if r["key_alias"] == alias)), (alias, entry)
    models: dict[str, float] = {}
    for r in rows:
        models[r["model"] or ""] = models.get(r["model"] or "", 0.0) + r["cost"]
    assert set(entry["models"]) == set(models), entry
    for model, cost in models.items():
        assert close_to(entry["models"][model], cost), (model, entry)
    assert entry["users"] == {}, entry


def test_key_info_spend_is_the_sum_of_the_keys_rows(spend, mock, key):
    stack = spend.stack
    rows = ledger(spend.db)
    for alias, headers, query in (("sp-a", WATCH.as_key("sp-a"), ""), ("sp-b", key, "?key_alias=sp-b")):
        resp = stack.request("GET", "/key/info" + query, headers)
        assert resp.status == 200, resp
        expected = sum(r["cost"] for r in rows if r["key_alias"] == alias)
        assert expected > 0
        assert close_to(resp.json()["info"]["spend"], expected), (alias, resp.json()["info"]["spend"], expected)


def parse_usage_table(text: str) -> tuple[list[str], dict[str, list[float]], list[float]]:
    """(header words, label -> six numbers, totals' six numbers) of `usage`'s table."""
    lines = [line for line in text.splitlines() if line.strip()]
    header = lines[0].split()
    body, total = {}, None
    for line in lines[1:]:
        if set(line.strip()) == {"-"}:
            continue
        words = line.split()
        numbers = [float(w) for w in words[-6:]]
        label = " ".join(words[:-6])
        if label == "total":
            total = numbers
        else:
            body[label] = numbers
    return header, body, total if total is not None else [0.0] * 6


def sums(rows: list[dict]) -> list[float]:
    return [len(rows), sum(r["input_tokens"] for r in rows), sum(r["output_tokens"] for r in rows),
            sum(r["cache_read_tokens"] for r in rows), sum(r["cache_write_tokens"] for r in rows), sum(r["cost"] for r in rows)]


def assert_table_row(got: list[float], rows: list[dict], what: str) -> None:
    want = sums(rows)
    assert got[:5] == want[:5], (what, got, want)
    assert abs(got[5] - want[5]) <= 0.00005 + 1e-9, (what, got, want)


def test_usage_cli_totals_match_the_rows(spend, gateway_binary, workdir, mock):
    rows = ledger(spend.db)
    env = base_env(workdir)
    for by, column in (("key", "key_alias"), ("route", "route"), ("model", "model")):
        result = run_cli(gateway_binary, ["usage", "--db", str(spend.db), "--by", by, "--since", "7d"], env)
        assert result.returncode == 0, result
        header, body, total = parse_usage_table(result.stdout)
        assert header[0] == by, result.stdout
        assert_table_row(total, rows, f"--by {by} total")
        for label, numbers in body.items():
            mine = [r for r in rows if (r[column] or "-") == label or (label == "-" and not r[column])]
            assert mine, (label, result.stdout)
            assert_table_row(numbers, mine, f"--by {by} {label}")
        assert sum(n[0] for n in body.values()) == len(rows), result.stdout
    by_key = parse_usage_table(run_cli(gateway_binary, ["usage", "--db", str(spend.db)], env).stdout)[1]
    assert {"sp-a", "sp-b"} <= set(by_key), by_key
    # By day: today's line is everything.
    header, body, total = parse_usage_table(run_cli(gateway_binary, ["usage", "--db", str(spend.db), "--by", "day"], env).stdout)
    assert list(body) == [str(spend.day)], body
    assert_table_row(total, rows, "--by day")
    # Nothing since tomorrow.
    tomorrow = spend.day + dt.timedelta(days=1)
    _, body, total = parse_usage_table(run_cli(gateway_binary, ["usage", "--db", str(spend.db), "--since", str(tomorrow)], env).stdout)
    assert total[0] == 0 and body == {}, (body, total)
    bad = run_cli(gateway_binary, ["usage", "--db", str(spend.db), "--by", "colour"], env)
    assert bad.returncode == EXIT_USAGE, bad
    missing = run_cli(gateway_binary, ["usage", "--db", str(workdir / "nothing-here.db")], env)
    assert missing.returncode == 1, missing
    assert not (workdir / "nothing-here.db").exists(), "usage created the file it was asked to read"


# ==================================================================================================
# 7, 8. What a crash loses, what a drain keeps, and a database someone else holds locked.
# ==================================================================================================


LIFE = """
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
  model_cost_map: {prices}
  usage_db: {db}
  pass_through_endpoints:
    - path: /openai
      provider: openai
      target: {upstream}/replay/openai-chat
"""


def send(stack, key, n: int, tag: str) -> list[tuple[str, float]]:
    """n requests one after another: (request id, when its response was complete)."""
    done = []
    for i in range(n):
        resp = stack.request("POST", f"/openai/v1/chat/completions?{tag}={i}", key + JSON_CT, chat_body("gpt-4o"))
        assert resp.status == 200, resp
        done.append((resp.header("x-litellm-call-id"), time.monotonic()))
    return done


def ids_in(db: Path) -> set[str]:
    return {r["request_id"] for r in ledger(db)}


@pytest.mark.timeout_s(45)
def test_sigkill_loses_at_most_the_last_second_and_sigterm_nothing(fresh_stacks, mock, key, canaries):
    env = {"OPENAI_API_KEY": canaries.upstream_key}
    first, db = start(fresh_stacks, LIFE, env=env)
    # Rows of requests 1.5 s old are on disk: the writer flushes every 250 ms.
    settled = send(first, key, 10, "settled")
    time.sleep(1.5)  # the interval under test, not a wait for a condition
    first.gateways[0].kill()
    assert {i for i, _ in settled} <= ids_in(db), "rows older than 1.5 s were lost to SIGKILL"

    # Requests up to the instant of the kill: only those of the last second may be missing.
    second, _ = start(fresh_stacks, LIFE, db=db, env=env)
    burst = []
    started = time.monotonic()
    while time.monotonic() - started < 2.0:
        burst += send(second, key, 1, "burst")
    second.gateways[0].kill()
    killed_at = time.monotonic()
    present = ids_in(db)
    missing = [(rid, killed_at - at) for rid, at in burst if rid not in present]
    assert all(age <= 1.0 for _, age in missing), f"rows lost older than 1 s before the kill: {[m for m in missing if m[1] > 1.0]}"
    assert len(burst) - len(missing) > 0

    # SIGTERM drains: every row is written before the process exits.
    third, _ = start(fresh_stacks, LIFE, db=db, env=env)
    drained = send(third, key, 10, "drained")
    gateway = third.gateways[0]
    gateway.signal(signal.SIGTERM)
    assert gateway.wait_exit(10) == 0
    assert {i for i, _ in drained} <= ids_in(db), "SIGTERM lost rows"


@pytest.mark.timeout_s(30)
def test_a_locked_database_neither_fails_nor_delays_requests_and_rows_follow_the_release(fresh_stacks, mock, key, canaries):
    stack, db = start(fresh_stacks, LIFE, env={"OPENAI_API_KEY": canaries.upstream_key})
    warm = send(stack, key, 1, "warm")
    row_of(db, warm[0][0])
    holder = sqlite3.connect(str(db), isolation_level=None, timeout=2)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        locked_at = time.monotonic()
        timings = []
        ids = []
        for i in range(20):
            began = time.monotonic()
            ids += [rid for rid, _ in send(stack, key, 1, f"locked{i}")]
            timings.append(time.monotonic() - began)
        assert max(timings) < 0.5, f"requests slowed by the lock: {sorted(timings)[-3:]}"
        assert ids_in(db) == {warm[0][0]}, "rows were written while another process held the lock"
        remaining = 2.0 - (time.monotonic() - locked_at)
        if remaining > 0:
            time.sleep(remaining)  # hold the lock for its 2 s
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    wait_until(lambda: set(ids) <= ids_in(db), 3, "the 20 rows after the lock was released", interval=0.05)
    assert "spend ledger: cannot write" in stack.gateway_logs(), stack.gateway_logs()[-3000:]


LIFE_DEFAULT_DB = """
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
  model_cost_map: {prices}
  pass_through_endpoints:
    - path: /openai
      provider: openai
      target: {upstream}/replay/openai-chat
"""


@pytest.mark.timeout_s(30)
def test_the_ledger_defaults_to_state_directory_and_a_reload_flushes_it(fresh_stacks, mock, key, canaries):
    """No `usage_db`: `$STATE_DIRECTORY/usage.db` (the harness sets STATE_DIRECTORY to the
    stack's directory). SIGHUP writes what is queued before the reload is done."""
    stack, _ = start(fresh_stacks, LIFE_DEFAULT_DB, env={"OPENAI_API_KEY": canaries.upstream_key})
    db = stack.dir / "usage.db"
    WATCH.add_db(db)
    first = send(stack, key, 1, "first")
    row = row_of(db, first[0][0])
    # The text request line carries the same counts as key=value fields.
    line = wait_until(lambda: [l for l in stack.gateway_logs().splitlines() if f"request_id={first[0][0]}" in l], 3, "the request line")
    assert len(line) == 1, line
    fields = dict(re.findall(r"\b(\w+)=(\S+)", line[0]))
    assert fields["model"] == "gpt-4o" == row["model"], line
    assert [int(fields[n]) for n in ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")] == [1234, 56, 1024, 0], line
    assert "search_units" not in fields and "usage" not in fields, line
    assert float(fields["cost"]) == row["cost"] and close_to(row["cost"], expected_cost("openai", PRICES["gpt-4o"], OPENAI_CHAT.counts)), line
    gateway = stack.gateways[0]
    reloads = gateway.log_text().count("configuration reloaded")
    queued = send(stack, key, 5, "queued")
    gateway.signal(signal.SIGHUP)
    wait_until(lambda: gateway.log_text().count("configuration reloaded") > reloads, 5, "the reload", interval=0.005)
    assert {i for i, _ in queued} <= ids_in(db), "rows still queued when the reload was done"
    after = send(stack, key, 1, "after")
    row_of(db, after[0][0])
