#!/usr/bin/env python3
"""The SSE upstream: `GET /sse?n=N&ms=M` answers N events, one every M milliseconds.
With `&shape=openai` each event is an OpenAI chat completion chunk (one token of content)
and the stream ends as one with `stream_options.include_usage` does: a usage chunk, then
`data: [DONE]`.

Each event carries its sequence number and the moment it was written
(`time.monotonic_ns()`, the same clock for every process on the machine), so a client
can tell exactly how long the event took to pass through the proxy in between.
The response is chunked and the connection kept alive, as an LLM API streams.

    python3 bench/sse_upstream.py PORT
"""
import asyncio
import sys
import time
from urllib.parse import parse_qs, urlsplit


OPENAI_CHUNK = (b'"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini",'
                b'"choices":[{"index":0,"delta":{"content":" token"},"finish_reason":null}],"usage":null')
OPENAI_END = (b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini",'
              b'"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":20,"total_tokens":32}}\n\n'
              b'data: [DONE]\n\n')


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
            _, target, _ = request_line.split(" ", 2)
            query = parse_qs(urlsplit(target).query)
            count = int(query.get("n", ["10"])[0])
            interval = int(query.get("ms", ["10"])[0]) / 1000
            openai = query.get("shape", [""])[0] == "openai"
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                b"Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n"
            )
            start = time.monotonic()
            for seq in range(count):
                # Absolute schedule: a late wake-up never shifts the following events.
                delay = start + seq * interval - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                if openai:
                    event = b'data: {"seq":%d,"t":%d,%s}\n\n' % (seq, time.monotonic_ns(), OPENAI_CHUNK)
                else:
                    event = b'data: {"seq":%d,"t":%d}\n\n' % (seq, time.monotonic_ns())
                writer.write(b"%x\r\n%s\r\n" % (len(event), event))
                await writer.drain()
            if openai:
                writer.write(b"%x\r\n%s\r\n" % (len(OPENAI_END), OPENAI_END))
            writer.write(b"0\r\n\r\n")
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, ValueError):
        pass
    finally:
        writer.close()


async def main(port: int) -> None:
    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=4096)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
