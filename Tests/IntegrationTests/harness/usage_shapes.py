"""Recorded provider responses that carry usage, for the mock's `/replay/<name>` route.

Each shape is a response body as the provider sends it, split into the pieces it arrives
in (one piece per server-sent event, per element of Gemini's streamed array, or the whole
body), with its content type and the counts docs/USAGE.md says the gateway reads from it.
The numbers are the provider's, not converted: OpenAI and Gemini count cached tokens
inside the prompt, Anthropic counts cache reads and writes on top of the input.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Counts:
    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_write: int = 0
    search_units: int = 0


@dataclass(frozen=True)
class Shape:
    name: str
    content_type: str
    pieces: tuple[bytes, ...]
    # Sent one piece per chunk, with a small delay between them (an SSE or array stream);
    # otherwise the whole body with Content-Length.
    streamed: bool
    counts: Counts = field(default_factory=Counts)

    @property
    def body(self) -> bytes:
        return b"".join(self.pieces)


def _j(value) -> str:
    return json.dumps(value, separators=(",", ":"))


def _sse(*events: tuple[str | None, object], crlf: bool = False) -> tuple[bytes, ...]:
    """One piece per event: `event:` line when named, one `data:` line, blank line."""
    end = "\r\n" if crlf else "\n"
    pieces = []
    for name, data in events:
        text = (f"event: {name}{end}" if name else "") + f"data: {data if isinstance(data, str) else _j(data)}{end}{end}"
        pieces.append(text.encode())
    return tuple(pieces)


# --- OpenAI ------------------------------------------------------------------------------

OPENAI_CHAT = Shape(
    "openai-chat",
    "application/json",
    (
        _j(
            {
                "id": "chatcmpl-AbC123xyz",
                "object": "chat.completion",
                "created": 1733500000,
                "model": "gpt-4o-2024-08-06",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "Hello! \u00e9\u00e8 How can I help \"you\" today?", "refusal": None},
                        "logprobs": None,
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": 1234,
                    "completion_tokens": 56,
                    "total_tokens": 1290,
                    "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0},
                    "completion_tokens_details": {"reasoning_tokens": 12, "audio_tokens": 0, "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
                },
                "service_tier": "default",
                "system_fingerprint": "fp_50cad350e4",
            }
        ).encode(),
    ),
    streamed=False,
    counts=Counts(input=1234, output=56, cache_read=1024),
)


def _chat_chunk(delta: dict, finish=None, usage="absent", choices=True) -> dict:
    chunk = {
        "id": "chatcmpl-Str3am",
        "object": "chat.completion.chunk",
        "created": 1733500001,
        "model": "gpt-4o-mini-2024-07-18",
        "system_fingerprint": "fp_0ba0d124f1",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}] if choices else [],
    }
    if usage != "absent":
        chunk["usage"] = usage
    return chunk


OPENAI_CHAT_SSE = Shape(
    "openai-chat-sse",
    "text/event-stream; charset=utf-8",
    _sse(
        (None, _chat_chunk({"role": "assistant", "content": "", "refusal": None}, usage=None)),
        (None, _chat_chunk({"content": "Hel"}, usage=None)),
        (None, _chat_chunk({"content": "lo"}, usage=None)),
        (None, _chat_chunk({}, finish="stop", usage=None)),
        (None, _chat_chunk({}, choices=False, usage={
            "prompt_tokens": 25, "completion_tokens": 9, "total_tokens": 34,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
        })),
        (None, "[DONE]"),
    ),
    streamed=True,
    counts=Counts(input=25, output=9),
)

# The same stream without `stream_options.include_usage`: nothing to read.
OPENAI_CHAT_SSE_NO_USAGE = Shape(
    "openai-chat-sse-no-usage",
    "text/event-stream; charset=utf-8",
    _sse(
        (None, _chat_chunk({"role": "assistant", "content": ""})),
        (None, _chat_chunk({"content": "Hi"})),
        (None, _chat_chunk({}, finish="stop")),
        (None, "[DONE]"),
    ),
    streamed=True,
)


def _response_object(status: str, usage) -> dict:
    return {
        "id": "resp_67ccd2bed1ec8190",
        "object": "response",
        "created_at": 1741476542,
        "status": status,
        "model": "gpt-4o-mini-2024-07-18",
        "output": [] if status != "completed" else [
            {"type": "message", "id": "msg_67ccd2bf", "status": "completed", "role": "assistant",
             "content": [{"type": "output_text", "text": "Hi there", "annotations": []}]}
        ],
        "usage": usage,
    }


OPENAI_RESPONSES_SSE = Shape(
    "openai-responses-sse",
    "text/event-stream; charset=utf-8",
    _sse(
        ("response.created", {"type": "response.created", "sequence_number": 0, "response": _response_object("in_progress", None)}),
        ("response.in_progress", {"type": "response.in_progress", "sequence_number": 1, "response": _response_object("in_progress", None)}),
        ("response.output_text.delta", {"type": "response.output_text.delta", "sequence_number": 2, "item_id": "msg_67ccd2bf", "output_index": 0, "content_index": 0, "delta": "Hi"}),
        ("response.output_text.delta", {"type": "response.output_text.delta", "sequence_number": 3, "item_id": "msg_67ccd2bf", "output_index": 0, "content_index": 0, "delta": " there"}),
        ("response.completed", {"type": "response.completed", "sequence_number": 4, "response": _response_object("completed", {
            "input_tokens": 300, "input_tokens_details": {"cached_tokens": 128},
            "output_tokens": 42, "output_tokens_details": {"reasoning_tokens": 10}, "total_tokens": 342,
        })}),
    ),
    streamed=True,
    counts=Counts(input=300, output=42, cache_read=128),
)

# --- Anthropic ---------------------------------------------------------------------------

ANTHROPIC_JSON = Shape(
    "anthropic-json",
    "application/json",
    (
        _j(
            {
                "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
                "type": "message",
                "role": "assistant",
                "model": "claude-3-5-sonnet-20241022",
                "content": [{"type": "text", "text": "Hello! {\"usage\": {\"input_tokens\": 999999}} is only text."}],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": 2095, "cache_creation_input_tokens": 2048, "cache_read_input_tokens": 1024, "output_tokens": 503},
            }
        ).encode(),
    ),
    streamed=False,
    counts=Counts(input=2095, output=503, cache_read=1024, cache_write=2048),
)

ANTHROPIC_SSE = Shape(
    "anthropic-sse",
    "text/event-stream; charset=utf-8",
    _sse(
        ("message_start", {"type": "message_start", "message": {
            "id": "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY", "type": "message", "role": "assistant", "content": [],
            "model": "claude-3-5-sonnet-20241022", "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": 472, "cache_creation_input_tokens": 100, "cache_read_input_tokens": 200, "output_tokens": 1},
        }}),
        ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ("ping", {"type": "ping"}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello"}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "!"}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None}, "usage": {"output_tokens": 89}}),
        ("message_stop", {"type": "message_stop"}),
    ),
    streamed=True,
    counts=Counts(input=472, output=89, cache_read=200, cache_write=100),
)
# What an Anthropic stream cut after `message_start` (and before `message_delta`) keeps.
ANTHROPIC_SSE_START_ONLY = Counts(input=472, output=1, cache_read=200, cache_write=100)

# --- Gemini ------------------------------------------------------------------------------


def _gemini_chunk(text: str, usage: dict, finish: str | None = None) -> dict:
    candidate = {"content": {"parts": [{"text": text}], "role": "model"}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    return {"candidates": [candidate], "usageMetadata": usage, "modelVersion": "gemini-1.5-pro-002"}


GEMINI_JSON = Shape(
    "gemini-json",
    "application/json; charset=UTF-8",
    (
        json.dumps(
            _gemini_chunk("The answer is 42.", {
                "promptTokenCount": 1500, "candidatesTokenCount": 200, "totalTokenCount": 1750,
                "cachedContentTokenCount": 1024, "thoughtsTokenCount": 50,
                "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 1500}],
            }, "STOP"),
            indent=2,
        ).encode() + b"\n",
    ),
    streamed=False,
    counts=Counts(input=1500, output=250, cache_read=1024),
)

# streamGenerateContent?alt=sse: CRLF line ends, cumulative counts in every event.
GEMINI_SSE = Shape(
    "gemini-sse",
    "text/event-stream",
    _sse(
        (None, _gemini_chunk("The", {"promptTokenCount": 12, "candidatesTokenCount": 1, "totalTokenCount": 13})),
        (None, _gemini_chunk(" answer", {"promptTokenCount": 12, "candidatesTokenCount": 17, "totalTokenCount": 29})),
        (None, _gemini_chunk(" is 42.", {"promptTokenCount": 12, "candidatesTokenCount": 40, "totalTokenCount": 52,
                                          "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 12}]}, "STOP")),
        crlf=True,
    ),
    streamed=True,
    counts=Counts(input=12, output=40),
)

# streamGenerateContent without alt=sse: one JSON array, its elements arriving one by one.
_ARRAY_ELEMENTS = [
    json.dumps(_gemini_chunk("Four", {"promptTokenCount": 9, "candidatesTokenCount": 1, "totalTokenCount": 10}), indent=2),
    json.dumps(_gemini_chunk(" score", {"promptTokenCount": 9, "candidatesTokenCount": 6, "totalTokenCount": 15}), indent=2),
    json.dumps(_gemini_chunk(" and seven.", {"promptTokenCount": 9, "candidatesTokenCount": 11, "totalTokenCount": 20,
                                              "thoughtsTokenCount": 4}, "STOP"), indent=2),
]
GEMINI_ARRAY = Shape(
    "gemini-array",
    "application/json; charset=UTF-8",
    tuple(
        ((b"[" if k == 0 else b",\r\n") + element.encode() + (b"]" if k == len(_ARRAY_ELEMENTS) - 1 else b""))
        for k, element in enumerate(_ARRAY_ELEMENTS)
    ),
    streamed=True,
    counts=Counts(input=9, output=15),
)

# --- Cohere ------------------------------------------------------------------------------

COHERE_RERANK = Shape(
    "cohere-rerank",
    "application/json",
    (
        b'{"id":"07734bd2-2473-4f07-94e1-0d9f0e6843cf","results":['
        b'{"index":2,"relevance_score":0.99782026},'
        b'{"index":0,"relevance_score":0.04560134},'
        b'{"index":4,"relevance_score":0.0062072305}],'
        b'"meta":{"api_version":{"version":"2","is_experimental":false},"billed_units":{"search_units":2}}}',
    ),
    streamed=False,
    counts=Counts(search_units=2),
)

COHERE_CHAT_V2 = Shape(
    "cohere-chat-v2",
    "application/json",
    (
        _j(
            {
                "id": "c14c80c3-18eb-4519-9460-6c92edd8cfb4",
                "message": {"role": "assistant", "content": [{"type": "text", "text": "LLMs are neural networks."}]},
                "finish_reason": "COMPLETE",
                "usage": {"billed_units": {"input_tokens": 5, "output_tokens": 418}, "tokens": {"input_tokens": 71, "output_tokens": 418}},
            }
        ).encode(),
    ),
    streamed=False,
    counts=Counts(input=5, output=418),
)

# --- bodies the meter cannot read -------------------------------------------------------

HTML_ERROR_PAGE = Shape(
    "html-page",
    "text/html; charset=utf-8",
    (b"<html><body><h1>Upstream says hello</h1><p>usage: {\"prompt_tokens\": 5}</p></body></html>\n",),
    streamed=False,
)


SHAPES: dict[str, Shape] = {
    shape.name: shape
    for shape in (
        OPENAI_CHAT, OPENAI_CHAT_SSE, OPENAI_CHAT_SSE_NO_USAGE, OPENAI_RESPONSES_SSE,
        ANTHROPIC_JSON, ANTHROPIC_SSE,
        GEMINI_JSON, GEMINI_SSE, GEMINI_ARRAY,
        COHERE_RERANK, COHERE_CHAT_V2,
        HTML_ERROR_PAGE,
    )
}
