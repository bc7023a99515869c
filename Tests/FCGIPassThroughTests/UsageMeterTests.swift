import Foundation
import Testing

@testable import GatewayCore

/// Usage read from response bodies as they stream by: the providers' documented shapes,
/// whole and in pieces of every size, cut short, broken, and huge.
@Suite struct UsageMeterTests {
    static let json = "application/json"
    static let sse = "text/event-stream"

    /// A seeded generator, so a failing split can be replayed.
    struct SplitMix64: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static func chunks(_ data: Data, longest: Int, seed: UInt64) -> [Data] {
        var generator = SplitMix64(state: seed)
        var pieces: [Data] = []
        var start = data.startIndex
        while start < data.endIndex {
            let end = min(data.endIndex, start + Int.random(in: 1...longest, using: &generator))
            pieces.append(data[start..<end])
            start = end
        }
        return pieces
    }

    static func read(
        _ chunks: [Data], _ format: UsageFormat, contentType: String?, requestModel: String? = nil, complete: Bool = true
    ) -> Usage {
        var meter = UsageMeter(format: format, contentType: contentType, requestModel: requestModel)
        for chunk in chunks { meter.consume(chunk) }
        return meter.finish(complete: complete)
    }

    /// The usage of `body` read whole, byte by byte and cut at random points: all must agree.
    static func meter(
        _ body: String, _ format: UsageFormat, contentType: String? = json, requestModel: String? = nil,
        complete: Bool = true, sourceLocation: SourceLocation = #_sourceLocation
    ) -> Usage {
        let data = Data(body.utf8)
        let whole = read([data], format, contentType: contentType, requestModel: requestModel, complete: complete)
        var splits = [("bytes", data.indices.map { data[$0..<$0 + 1] })]
        for seed in UInt64(1)...4 {
            splits.append(("random \(seed)", chunks(data, longest: seed.isMultiple(of: 2) ? 13 : 300, seed: seed)))
        }
        for (name, pieces) in splits {
            let usage = read(pieces, format, contentType: contentType, requestModel: requestModel, complete: complete)
            #expect(usage == whole, "split \(name)", sourceLocation: sourceLocation)
        }
        return whole
    }

    // MARK: OpenAI

    static let openAIChat = """
        {
          "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
          "object": "chat.completion",
          "created": 1741570283,
          "model": "gpt-4o-2024-08-06",
          "choices": [
            {
              "index": 0,
              "message": {
                "role": "assistant",
                "content": "The image shows a wooden boardwalk path running through a lush green field. \\"Quoted\\" \\u00e9t\\u00e9 \\ud83d\\ude00\\nDone.",
                "refusal": null,
                "annotations": []
              },
              "logprobs": null,
              "finish_reason": "stop"
            }
          ],
          "usage": {
            "prompt_tokens": 1117,
            "completion_tokens": 46,
            "total_tokens": 1163,
            "prompt_tokens_details": {
              "cached_tokens": 1024,
              "audio_tokens": 0
            },
            "completion_tokens_details": {
              "reasoning_tokens": 0,
              "audio_tokens": 0,
              "accepted_prediction_tokens": 0,
              "rejected_prediction_tokens": 0
            }
          },
          "service_tier": "default",
          "system_fingerprint": "fp_fc9f1d7035"
        }
        """

    @Test func openAIChatCompletionCachedTokensStayInsidePromptTokens() {
        let usage = Self.meter(Self.openAIChat, .openai)
        #expect(
            usage
                == Usage(
                    model: "gpt-4o-2024-08-06", inputTokens: 1117, outputTokens: 46, cacheReadTokens: 1024, metered: true))
        #expect(Self.meter(Self.openAIChat, .openai, requestModel: "gpt-4o").model == "gpt-4o")
    }

    @Test func usageIsFoundWhereverItSitsInTheObject() {
        let body = #"{"usage":{"completion_tokens":3,"prompt_tokens":9},"model":"gpt-4o-mini","choices":[{"message":{"content":"hi"}}]}"#
        #expect(Self.meter(body, .openai) == Usage(model: "gpt-4o-mini", inputTokens: 9, outputTokens: 3, metered: true))
    }

    static func openAIChunk(_ delta: String, finish: String = "null", usage: String = "null") -> String {
        #"data: {"id":"chatcmpl-123","object":"chat.completion.chunk","created":1694268190,"model":"gpt-4o-mini-2024-07-18","#
            + #""system_fingerprint":"fp_44709d6fcb","choices":[{"index":0,"delta":\#(delta),"logprobs":null,"#
            + #""finish_reason":\#(finish)}],"usage":\#(usage)}"# + "\n\n"
    }

    static let openAIStream = [
        openAIChunk(#"{"role":"assistant","content":""}"#), openAIChunk(#"{"content":"Hello"}"#),
        openAIChunk(#"{"content":" there"}"#), openAIChunk("{}", finish: #""stop""#),
        #"data: {"id":"chatcmpl-123","object":"chat.completion.chunk","created":1694268190,"model":"gpt-4o-mini-2024-07-18","#,
        #""choices":[],"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11,"#,
        #""prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}"#,
        "\n\ndata: [DONE]\n\n",
    ].joined()

    @Test func openAIStreamTakesTheUsageChunkBeforeDone() {
        let usage = Self.meter(Self.openAIStream, .openai, contentType: "text/event-stream; charset=utf-8")
        #expect(usage == Usage(model: "gpt-4o-mini-2024-07-18", inputTokens: 9, outputTokens: 2, metered: true))
    }

    @Test func openAIStreamWithoutIncludeUsageIsUnmetered() {
        let stream = Self.openAIChunk(#"{"content":"Hi"}"#) + Self.openAIChunk("{}", finish: #""stop""#) + "data: [DONE]\n\n"
        let usage = Self.meter(stream, .openai, contentType: Self.sse)
        #expect(usage == Usage(model: "gpt-4o-mini-2024-07-18", metered: false))
    }

    @Test func openAICompletions() {
        let body = """
            {"id":"cmpl-uqkvlQyYK7bGYrRHQ0eXlWi7","object":"text_completion","created":1589478378,\
            "model":"gpt-3.5-turbo-instruct","system_fingerprint":"fp_44709d6fcb","choices":[{"text":"\\n\\nThis is indeed a test",\
            "index":0,"logprobs":null,"finish_reason":"length"}],"usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12}}
            """
        #expect(Self.meter(body, .openai) == Usage(model: "gpt-3.5-turbo-instruct", inputTokens: 5, outputTokens: 7, metered: true))
    }

    @Test func openAIEmbeddingsCountPromptTokensOnly() {
        let body = """
            {
              "object": "list",
              "data": [
                {"object": "embedding", "embedding": [0.0023064255, -0.009327292, 1.5e-05, -2E+3, 0], "index": 0},
                {"object": "embedding", "embedding": [0.1, -0.2], "index": 1}
              ],
              "model": "text-embedding-3-small",
              "usage": {"prompt_tokens": 8, "total_tokens": 8}
            }
            """
        #expect(Self.meter(body, .openai) == Usage(model: "text-embedding-3-small", inputTokens: 8, metered: true))
        // Only a total: it is the input.
        #expect(Self.meter(#"{"usage":{"total_tokens":21}}"#, .openai) == Usage(inputTokens: 21, metered: true))
    }

    static let responsesBody = """
        {
          "id": "resp_67ccd3a9da748190baa7f1570fe91ac604becb25c45c1d41",
          "object": "response",
          "created_at": 1741476777,
          "status": "completed",
          "error": null,
          "incomplete_details": null,
          "model": "gpt-4.1-2025-04-14",
          "output": [
            {
              "type": "message",
              "id": "msg_67ccd3acc8d48190a77525dc6de64b4104becb25c45c1d41",
              "status": "completed",
              "role": "assistant",
              "content": [{"type": "output_text", "text": "The image depicts a scenic landscape.", "annotations": []}]
            }
          ],
          "parallel_tool_calls": true,
          "reasoning": {"effort": null, "summary": null},
          "store": true,
          "temperature": 1.0,
          "text": {"format": {"type": "text"}},
          "tool_choice": "auto",
          "tools": [],
          "top_p": 1.0,
          "truncation": "disabled",
          "usage": {
            "input_tokens": 328,
            "input_tokens_details": {"cached_tokens": 128},
            "output_tokens": 52,
            "output_tokens_details": {"reasoning_tokens": 12},
            "total_tokens": 380
          },
          "user": null,
          "metadata": {}
        }
        """

    @Test func openAIResponsesBody() {
        #expect(
            Self.meter(Self.responsesBody, .openai)
                == Usage(model: "gpt-4.1-2025-04-14", inputTokens: 328, outputTokens: 52, cacheReadTokens: 128, metered: true))
    }

    static let responsesStream = """
        event: response.created
        data: {"type":"response.created","sequence_number":0,"response":{"id":"resp_67c9fdcecf488190bdd9a0409de3a1ec","object":"response","created_at":1741290958,"status":"in_progress","error":null,"model":"gpt-4.1-2025-04-14","output":[],"usage":null,"metadata":{}}}

        event: response.output_text.delta
        data: {"type":"response.output_text.delta","sequence_number":4,"item_id":"msg_67c9","output_index":0,"content_index":0,"delta":"Hi"}

        event: response.output_text.delta
        data: {"type":"response.output_text.delta","sequence_number":5,"item_id":"msg_67c9","output_index":0,"content_index":0,"delta":" there!"}

        event: response.completed
        data: {"type":"response.completed","sequence_number":9,"response":{"id":"resp_67c9fdcecf488190bdd9a0409de3a1ec","object":"response","status":"completed","model":"gpt-4.1-2025-04-14","output":[{"id":"msg_67c9","type":"message","status":"completed","role":"assistant","content":[{"type":"output_text","text":"Hi there!","annotations":[]}]}],"usage":{"input_tokens":37,"output_tokens":11,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":48,"input_tokens_details":{"cached_tokens":32}},"metadata":{}}}


        """

    @Test func openAIResponsesStreamReadsTheCompletedEvent() {
        #expect(
            Self.meter(Self.responsesStream, .openai, contentType: Self.sse)
                == Usage(model: "gpt-4.1-2025-04-14", inputTokens: 37, outputTokens: 11, cacheReadTokens: 32, metered: true))
    }

    // MARK: Anthropic

    static let anthropicBody = """
        {
          "id": "msg_013Zva2CMHLNnXjNJJKqJ2EF",
          "type": "message",
          "role": "assistant",
          "model": "claude-sonnet-4-20250514",
          "content": [{"type": "text", "text": "Hi! My name is Claude."}],
          "stop_reason": "end_turn",
          "stop_sequence": null,
          "usage": {
            "input_tokens": 2095,
            "cache_creation_input_tokens": 2051,
            "cache_read_input_tokens": 0,
            "output_tokens": 503,
            "service_tier": "standard"
          }
        }
        """

    @Test func anthropicCacheTokensComeOnTopOfInputTokens() {
        #expect(
            Self.meter(Self.anthropicBody, .anthropic)
                == Usage(
                    model: "claude-sonnet-4-20250514", inputTokens: 2095, outputTokens: 503, cacheWriteTokens: 2051,
                    metered: true))
    }

    static let anthropicStart = """
        event: message_start
        data: {"type":"message_start","message":{"id":"msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY","type":"message","role":"assistant","content":[],"model":"claude-sonnet-4-20250514","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":25,"cache_creation_input_tokens":0,"cache_read_input_tokens":1800,"output_tokens":1}}}

        event: content_block_start
        data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

        event: ping
        data: {"type": "ping"}

        event: content_block_delta
        data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}

        event: content_block_delta
        data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"! How can I help?"}}


        """

    static func anthropicEnd(_ usage: String) -> String {
        """
        event: content_block_stop
        data: {"type":"content_block_stop","index":0}

        event: message_delta
        data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":\(usage)}

        event: message_stop
        data: {"type":"message_stop"}


        """
    }

    @Test func anthropicStreamTakesTheLastOutputCount() {
        let stream = Self.anthropicStart + Self.anthropicEnd(#"{"output_tokens":15}"#)
        #expect(
            Self.meter(stream, .anthropic, contentType: Self.sse)
                == Usage(model: "claude-sonnet-4-20250514", inputTokens: 25, outputTokens: 15, cacheReadTokens: 1800, metered: true))
    }

    @Test func anthropicMessageDeltaMayRepeatInputAndCacheCounts() {
        let usage = #"{"input_tokens":30,"cache_creation_input_tokens":12,"cache_read_input_tokens":null,"output_tokens":15}"#
        let stream = Self.anthropicStart + Self.anthropicEnd(usage)
        #expect(
            Self.meter(stream, .anthropic, contentType: Self.sse, requestModel: "claude-sonnet-4-0")
                == Usage(
                    model: "claude-sonnet-4-0", inputTokens: 30, outputTokens: 15, cacheReadTokens: 1800, cacheWriteTokens: 12,
                    metered: true))
    }

    @Test func aStreamCutMidwayKeepsWhatWasSeen() {
        // Cut inside the second text delta: message_start was read, the cut event is not.
        let cut = String(Self.anthropicStart.prefix(Self.anthropicStart.count - 30))
        let usage = Self.meter(cut, .anthropic, contentType: Self.sse, complete: false)
        #expect(
            usage
                == Usage(
                    model: "claude-sonnet-4-20250514", inputTokens: 25, outputTokens: 1, cacheReadTokens: 1800, metered: true,
                    partial: true))
        // Cut before any usage: partial and unmetered.
        let early = String(Self.openAIStream.prefix(600))
        #expect(
            Self.meter(early, .openai, contentType: Self.sse, complete: false)
                == Usage(model: "gpt-4o-mini-2024-07-18", metered: false, partial: true))
        // A last event whose blank line never came counts when the body ended, not when it was cut.
        let unterminated = #"data: {"usage":{"prompt_tokens":4,"completion_tokens":2}}"#
        #expect(Self.meter(unterminated, .openai, contentType: Self.sse).metered)
        #expect(!Self.meter(unterminated, .openai, contentType: Self.sse, complete: false).metered)
    }

    @Test func aJSONBodyCutAfterItsUsageKeepsItOnlyAsPartial() {
        let body = #"{"model":"gpt-4o","usage":{"prompt_tokens":7,"completion_tokens":5},"choices":[{"message":{"content":"long text"#
        #expect(
            Self.meter(body, .openai, complete: false)
                == Usage(model: "gpt-4o", inputTokens: 7, outputTokens: 5, metered: true, partial: true))
        // The same body said to be complete is broken JSON: nothing of it is trusted.
        #expect(Self.meter(body, .openai) == Usage(metered: false))
    }

    // MARK: Gemini

    static let geminiBody = """
        {
          "candidates": [
            {
              "content": {"parts": [{"text": "A haiku about the sea"}], "role": "model"},
              "finishReason": "STOP",
              "avgLogprobs": -0.24580129
            }
          ],
          "usageMetadata": {
            "promptTokenCount": 1200,
            "candidatesTokenCount": 120,
            "totalTokenCount": 1450,
            "cachedContentTokenCount": 1000,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 1200}],
            "cacheTokensDetails": [{"modality": "TEXT", "tokenCount": 1000}],
            "thoughtsTokenCount": 130
          },
          "modelVersion": "gemini-2.5-flash",
          "responseId": "xPp2aJ3nFsOxnvgP3KfSoQ4"
        }
        """

    @Test func geminiThoughtsCountAsOutputAndCachedTokensStayInsidePrompt() {
        #expect(
            Self.meter(Self.geminiBody, .gemini)
                == Usage(model: "gemini-2.5-flash", inputTokens: 1200, outputTokens: 250, cacheReadTokens: 1000, metered: true))
        #expect(Self.meter(Self.geminiBody, .gemini, requestModel: "gemini-2.5-flash-preview").model == "gemini-2.5-flash-preview")
    }

    static func geminiChunk(_ text: String, _ usage: String, finish: Bool = false) -> String {
        #"{"candidates": [{"content": {"parts": [{"text": "\#(text)"}],"role": "model"}"#
            + (finish ? #","finishReason": "STOP""# : "") + #","index": 0}],"usageMetadata": \#(usage),"#
            + #""modelVersion": "gemini-2.0-flash"}"#
    }

    static let geminiChunks = [
        geminiChunk("The", #"{"promptTokenCount": 8,"totalTokenCount": 8}"#),
        geminiChunk(" sea is", #"{"promptTokenCount": 8,"candidatesTokenCount": 12,"totalTokenCount": 20}"#),
        geminiChunk(" wide.", #"{"promptTokenCount": 8,"candidatesTokenCount": 30,"totalTokenCount": 38}"#, finish: true),
    ]

    @Test func geminiServerSentEventsTakeTheLastUsageMetadata() {
        let stream = Self.geminiChunks.map { "data: " + $0 + "\r\n\r\n" }.joined()
        #expect(
            Self.meter(stream, .gemini, contentType: Self.sse)
                == Usage(model: "gemini-2.0-flash", inputTokens: 8, outputTokens: 30, metered: true))
    }

    @Test func geminiStreamedJSONArrayIsReadElementByElement() {
        let stream = "[" + Self.geminiChunks.joined(separator: "\n,\r\n") + "\n]"
        let whole = Usage(model: "gemini-2.0-flash", inputTokens: 8, outputTokens: 30, metered: true)
        #expect(Self.meter(stream, .gemini) == whole)
        // Cut after the second element: the counts so far.
        let cut = ["[", Self.geminiChunks[0], "\n,\r\n", Self.geminiChunks[1], "\n,\r\n", String(Self.geminiChunks[2].prefix(40))]
            .joined()
        #expect(
            Self.meter(cut, .gemini, complete: false)
                == Usage(model: "gemini-2.0-flash", inputTokens: 8, outputTokens: 12, metered: true, partial: true))
    }

    // MARK: Cohere

    @Test func cohereRerankBillsSearchUnits() {
        let body = """
            {"id":"07734bd2-2473-4f07-94e1-0d9f0e6843cf","results":[{"index":3,"relevance_score":0.999071},\
            {"index":4,"relevance_score":0.7867867}],"meta":{"api_version":{"version":"2","is_experimental":false},\
            "billed_units":{"search_units":1}}}
            """
        #expect(Self.meter(body, .cohere, requestModel: "rerank-v3.5") == Usage(model: "rerank-v3.5", searchUnits: 1, metered: true))
    }

    @Test func cohereChatV2PrefersBilledUnitsOverTokens() {
        let body = """
            {"id":"c14c80c3-18eb-4519-9460-6c92edd8cfb4","finish_reason":"COMPLETE","message":{"role":"assistant",\
            "content":[{"type":"text","text":"LLMs stand for Large Language Models."}]},\
            "usage":{"billed_units":{"input_tokens":17,"output_tokens":12},"tokens":{"input_tokens":215,"output_tokens":12}}}
            """
        #expect(Self.meter(body, .cohere) == Usage(inputTokens: 17, outputTokens: 12, metered: true))
        let tokensOnly = #"{"id":"x","usage":{"tokens":{"input_tokens":215,"output_tokens":9}}}"#
        #expect(Self.meter(tokensOnly, .cohere) == Usage(inputTokens: 215, outputTokens: 9, metered: true))
    }

    @Test func cohereEmbedAndChatV1ReadMetaBilledUnits() {
        let embed = """
            {"id":"da6e531f-54c6-4a73-bf92-f60566d8d753","embeddings":{"float":[[0.016296387,0.008354187,-0.04699707]]},\
            "texts":["hello"],"meta":{"api_version":{"version":"2"},"billed_units":{"input_tokens":2}},\
            "response_type":"embeddings_by_type"}
            """
        #expect(Self.meter(embed, .cohere) == Usage(inputTokens: 2, metered: true))
        let chatV1 = """
            {"response_id":"d6f4c2a1","text":"Hello there","generation_id":"5e8b","chat_history":[{"role":"USER","message":"Hi"},\
            {"role":"CHATBOT","message":"Hello there"}],"finish_reason":"COMPLETE","meta":{"api_version":{"version":"1"},\
            "billed_units":{"input_tokens":5,"output_tokens":24},"tokens":{"input_tokens":71,"output_tokens":24}}}
            """
        #expect(Self.meter(chatV1, .cohere) == Usage(inputTokens: 5, outputTokens: 24, metered: true))
    }

    @Test func cohereChatV2StreamReadsMessageEnd() {
        let stream = """
            event: message-start
            data: {"id":"29f14a5a-11de-4cae-9800-25e4747408ea","type":"message-start","delta":{"message":{"role":"assistant","content":[],"tool_plan":"","tool_calls":[],"citations":[]}}}

            event: content-start
            data: {"type":"content-start","index":0,"delta":{"message":{"content":{"type":"text","text":""}}}}

            event: content-delta
            data: {"type":"content-delta","index":0,"delta":{"message":{"content":{"text":"Hello"}}}}

            event: content-end
            data: {"type":"content-end","index":0}

            event: message-end
            data: {"type":"message-end","delta":{"finish_reason":"COMPLETE","usage":{"billed_units":{"input_tokens":3,"output_tokens":10},"tokens":{"input_tokens":69,"output_tokens":10}}}}

            data: [DONE]


            """
        #expect(Self.meter(stream, .cohere, contentType: Self.sse) == Usage(inputTokens: 3, outputTokens: 10, metered: true))
    }

    @Test func cohereV1NewlineDelimitedStreamReadsStreamEnd() {
        let stream = """
            {"is_finished":false,"event_type":"stream-start","generation_id":"6f6d"}
            {"is_finished":false,"event_type":"text-generation","text":"Hi"}
            {"is_finished":true,"event_type":"stream-end","response":{"response_id":"a1","text":"Hi","meta":{"billed_units":{"input_tokens":4,"output_tokens":1}}},"finish_reason":"COMPLETE"}

            """
        #expect(
            Self.meter(stream, .cohere, contentType: "application/stream+json") == Usage(inputTokens: 4, outputTokens: 1, metered: true))
    }

    // MARK: Formats and content types

    @Test func formatNoneReadsNothing() {
        var meter = UsageMeter(format: .none, contentType: Self.json, requestModel: "gpt-4o")
        meter.consume(Data(Self.openAIChat.utf8))
        #expect(meter.finish(complete: true) == Usage(model: "gpt-4o"))
    }

    @Test func anotherFormatsShapeIsNotRead() {
        #expect(Self.meter(Self.openAIChat, .anthropic) == Usage(model: "gpt-4o-2024-08-06", metered: false))
        #expect(Self.meter(Self.anthropicBody, .gemini) == Usage(metered: false))
        #expect(Self.meter(Self.anthropicBody, .openai, requestModel: "").model == "claude-sonnet-4-20250514")
    }

    @Test func bodiesThatAreNotJSONAreUnmetered() {
        for body in ["<html><body>502 Bad Gateway</body></html>", "", "   ", "upstream connect error", "\"usage\""] {
            #expect(Self.meter(body, .openai) == Usage(metered: false), "\(body)")
        }
        #expect(Self.meter(Self.openAIChat, .openai, contentType: Self.sse) == Usage(metered: false))
    }

    @Test func eventStreamSyntaxVariants() {
        let usage = Usage(model: "m", inputTokens: 3, outputTokens: 4, metered: true)
        let variants = [
            // No space after the colon, CR line ends, a comment, other fields.
            ": keep-alive\rid: 7\rretry: 1000\revent: x\rdata:{\"model\":\"m\",\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4}}\r\r",
            // Data over several lines, joined by line feeds.
            "data: {\"model\":\"m\",\ndata: \"usage\":\ndata: {\"prompt_tokens\":3,\r\ndata:\"completion_tokens\":4}}\n\n",
            // An empty data line and a broken event before the good one.
            "data\n\ndata: {\"usage\":{\"prompt_tokens\":99}\n\ndata: {\"model\":\"m\",\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4}}\n\n",
            // Events ended by CR or CRLF blank lines: a broken last event does not spoil the one before.
            "data: {\"model\":\"m\",\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4}}\r\rdata: {\"usage\":{\"prompt_tokens\":9\r\r",
            "data: {\"model\":\"m\",\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4}}\r\n\r\ndata: {\"usage\":{\"prompt_tokens\":9\r\n\r\n",
            // Two JSON values in one event are not one value.
            "data: {\"model\":\"m\",\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4}}\n\ndata: {}\ndata: {\"usage\":{\"prompt_tokens\":9}}\n\n",
            // A field whose name only starts with data.
            "datax: {\"usage\":{\"prompt_tokens\":99}}\ndata: {\"model\":\"m\",\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4}}\n\n",
        ]
        for variant in variants {
            #expect(Self.meter(variant, .openai, contentType: Self.sse) == usage, "\(variant)")
        }
    }

    @Test func theContentTypeChoosesEventsByItsMediaTypeAlone() {
        let event = "data: {\"model\":\"m\",\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4}}\n\n"
        let usage = Usage(model: "m", inputTokens: 3, outputTokens: 4, metered: true)
        for type in ["text/event-stream", " Text/Event-Stream; charset=utf-8", "TEXT/EVENT-STREAM ;x=1"] {
            #expect(Self.meter(event, .openai, contentType: type) == usage, "\(type)")
        }
        // Another type that only starts or ends like it is read as JSON: the event is not JSON.
        for type in ["text/event-streams", "application/x; a=text/event-stream", "text/event"] {
            #expect(Self.meter(event, .openai, contentType: type).metered == false, "\(type)")
        }
    }

    @Test func everyFieldHasItsPlaceInTheInlineCaptures() {
        var captures = UsageCaptures()
        for (value, field) in UsageField.allCases.enumerated() where field != .model { captures[field] = value }
        for (value, field) in UsageField.allCases.enumerated() where field != .model { #expect(captures[field] == value) }
        captures[.output] = nil
        #expect(captures[.output] == nil && captures[.input] == 0 && captures.hasCounts)
        var newer = UsageCaptures()
        newer[.output] = 7
        captures.merge(newer)
        #expect(captures[.output] == 7 && captures[.searchUnits] == 4)
        captures.clear()
        #expect(!captures.hasCounts && captures == UsageCaptures())
    }

    @Test func everyNameIsFoundByItsSpellingAndNothingElse() {
        for name in UsageName.allCases where !name.spelling.isEmpty {
            let spelling = Array(name.spelling.utf8)
            #expect(UsageName.named(spelling) == name)
            #expect(UsageName.named(Array(spelling.dropLast())) == .other, "\(name)")
            #expect(UsageName.named(spelling + [0x73]) == .other, "\(name)")
            var otherCase = spelling
            otherCase[0] ^= 0x20
            #expect(UsageName.named(otherCase) == .other, "\(name)")
        }
        #expect(UsageName.named([UInt8]()) == .other)
        #expect(UsageName.named([UInt8](repeating: 0x61, count: UsageName.maxLength + 1)) == .other)
    }

    @Test func escapedNamesAndModelsAreDecoded() {
        let body = #"{"model":"ft:gpt-4o\/mini\u002dx","usage":{"prompt\u005ftokens":6,"completion_tokens":1}}"#
        #expect(Self.meter(body, .openai) == Usage(model: "ft:gpt-4o/mini-x", inputTokens: 6, outputTokens: 1, metered: true))
    }

    @Test func overlongNamesAndModelsAreNotTakenForUsage() {
        let longModel = String(repeating: "m", count: UsageJSONScanner.maxModelBytes + 1)
        let body = """
            {"model":"\(longModel)","usage_of_a_member_name_longer_than_any_known":{"prompt_tokens":1},\
            "usage":{"prompt_tokens":2}}
            """
        #expect(Self.meter(body, .openai) == Usage(inputTokens: 2, metered: true))
    }

    @Test func theLastModelAStreamNamesWins() {
        let stream =
            [
                #"data: {"model":"a","usage":null}"#, #"data: {"model":"b","usage":null}"#, #"data: {"usage":null}"#,
                #"data: {"model":"a","usage":null}"#, #"data: {"model":"b","usage":{"prompt_tokens":1}}"#, #"data: {"usage":null}"#,
            ].joined(separator: "\n\n") + "\n\n"
        #expect(Self.meter(stream, .openai, contentType: Self.sse) == Usage(model: "b", inputTokens: 1, metered: true))
        let cut = stream.components(separatedBy: "\n\n").prefix(4).joined(separator: "\n\n") + "\n\n"
        #expect(Self.meter(cut, .openai, contentType: Self.sse, complete: false) == Usage(model: "a", metered: false, partial: true))
    }

    // MARK: Numbers

    @Test(
        arguments: [
            ("12", 12), ("12.0", 12), ("0", 0), ("-0", 0), ("9007199254740992", 9_007_199_254_740_992),
            ("12.5", nil), ("-3", nil), ("1e3", nil), ("1.2E1", nil), ("9007199254740993", nil),
            ("123456789012345678901234567890", nil), (#""12""#, nil), ("null", nil), ("true", nil), ("{}", nil),
        ] as [(String, Int?)])
    func countsAreWholeNumbersUpTo2To53(literal: String, count: Int?) {
        let body = #"{"usage":{"prompt_tokens":\#(literal)}}"#
        let usage = Self.meter(body, .openai)
        #expect(usage.metered == (count != nil))
        #expect(usage.inputTokens == (count ?? 0))
        // An unreadable count leaves the others readable.
        let withOutput = Self.meter(#"{"usage":{"prompt_tokens":\#(literal),"completion_tokens":5}}"#, .openai)
        #expect(withOutput == Usage(inputTokens: count ?? 0, outputTokens: 5, metered: true))
    }

    // MARK: Malformed and hostile bodies

    @Test(arguments: [
        #"{"usage":{"prompt_tokens":12,}}"#, #"{"usage":{"prompt_tokens" 12}}"#, #"{"usage":{"prompt_tokens":01}}"#,
        #"{"usage":{"prompt_tokens":1.}}"#, #"{"usage":{"prompt_tokens":-}}"#, #"{"usage":{"prompt_tokens":.5}}"#,
        #"{"usage":{"prompt_tokens":+1}}"#, #"{"usage":{"prompt_tokens":1e}}"#, #"{"usage":{"prompt_tokens":12}}}"#,
        #"{"usage":{"prompt_tokens":12}"#, #"{"usage":{"prompt_tokens":12}} x"#, #"{"usage":{"prompt_tokens":12},"a":"\x"}"#,
        #"{"usage":{"prompt_tokens":12},"a":"\u12G4"}"#, "{\"usage\":{\"prompt_tokens\":12},\"a\":\"tab\there\"}",
        #"{"usage":{"prompt_tokens":12},"a":tru}"#, #"{"usage":{"prompt_tokens":12}]"#, #"[{"usage":{"prompt_tokens":12}}}"#,
        #"{"usage":{"prompt_tokens":12},"a":[1,]}"#, #"{"usage":{"prompt_tokens":12},"a":"unterminated}"#, #"{12:3}"#,
        #"{"usage":{"prompt_tokens":12}} 7"#,
    ])
    func malformedJSONIsUnmetered(body: String) {
        #expect(Self.meter(body, .openai) == Usage(metered: false))
    }

    @Test func nestingDeeperThanTheCapIsUnmeteredWithoutCrashing() {
        #expect(Self.meter(String(repeating: "[", count: 100_000), .openai) == Usage(metered: false))
        let usage = #""usage":{"prompt_tokens":12}"#
        func nested(_ depth: Int) -> String {
            "{" + usage + ",\"a\":" + String(repeating: "[", count: depth) + String(repeating: "]", count: depth) + "}"
        }
        #expect(Self.meter(nested(UsageJSONScanner.maxDepth - 1), .openai).metered)
        #expect(!Self.meter(nested(UsageJSONScanner.maxDepth), .openai).metered)
    }

    // MARK: Size and speed

    /// Feeds `body` in 64 KiB pieces, checking the meter's buffers after each; returns the
    /// usage and the rate in MB/s.
    static func feedLarge(_ body: Data, _ format: UsageFormat, contentType: String) -> (Usage, Double) {
        var meter = UsageMeter(format: format, contentType: contentType, requestModel: nil)
        var largestBuffer = 0
        let started = ContinuousClock.now
        var start = body.startIndex
        while start < body.endIndex {
            let end = min(body.endIndex, start + 65_536)
            meter.consume(body[start..<end])
            largestBuffer = max(largestBuffer, meter.bufferedBytes)
            start = end
        }
        let usage = meter.finish(complete: true)
        let elapsed = ContinuousClock.now - started
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        #expect(largestBuffer <= 1024, "the meter held \(largestBuffer) bytes")
        return (usage, Double(body.count) / 1_000_000 / max(seconds, 1e-9))
    }

    /// The rates are printed, not asserted: a unit test's timing says nothing under a
    /// sanitizer or a loaded machine (`make bench-usage` measures the cost per request).
    @Test func aHugeCompletionStringKeepsMemoryBounded() {
        var text = Data()
        let line = Data(#"All work and no play makes Jack a dull boy. \"Quoted\" \u00e9\n"#.utf8)
        while text.count < 20_000_000 { text.append(line) }
        var body = Data(#"{"id":"chatcmpl-1","model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":""#.utf8)
        body.append(text)
        body.append(Data(#""}}],"usage":{"prompt_tokens":10,"completion_tokens":5000000}}"#.utf8))
        let (usage, rate) = Self.feedLarge(body, .openai, contentType: Self.json)
        #expect(usage == Usage(model: "gpt-4o", inputTokens: 10, outputTokens: 5_000_000, metered: true))
        print("UsageMeter: JSON body with a 20 MB string: \(Int(rate)) MB/s")

        var event = Data(#"data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":""#.utf8)
        event.append(text)
        event.append(Data("\"}}\n\n".utf8))
        event.append(Data("data: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":77}}\n\n".utf8))
        let (streamed, streamRate) = Self.feedLarge(event, .anthropic, contentType: Self.sse)
        #expect(streamed == Usage(outputTokens: 77, metered: true))
        print("UsageMeter: one 20 MB server-sent event: \(Int(streamRate)) MB/s")
    }

    @Test func manySmallValuesAreReadInLinearTime() {
        // An embeddings body: hundreds of thousands of numbers in arrays.
        var body = Data(#"{"object":"list","data":["#.utf8)
        let vector = "[" + (0..<1536).map { "\(-0.001 * Double($0 % 97))" }.joined(separator: ",") + "]"
        for index in 0..<200 {
            if index > 0 { body.append(Data(",".utf8)) }
            body.append(Data(#"{"object":"embedding","index":\#(index),"embedding":\#(vector)}"#.utf8))
        }
        body.append(Data(#"],"model":"text-embedding-3-large","usage":{"prompt_tokens":4000,"total_tokens":4000}}"#.utf8))
        let (usage, rate) = Self.feedLarge(body, .openai, contentType: Self.json)
        #expect(usage == Usage(model: "text-embedding-3-large", inputTokens: 4000, metered: true))
        print("UsageMeter: \(body.count / 1_000_000) MB embeddings body: \(Int(rate)) MB/s")
    }
}
