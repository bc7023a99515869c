#!/usr/bin/env python3
"""A local stand-in for Cohere's POST /v1/rerank, for `make demo`.

Answers like Cohere: a rerank result for the documents sent, scored by word overlap
with the query, or Cohere's 401 when the Authorization header is not the demo key.
"""
import json
import os
import re
import sys
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

EXPECTED = "bearer " + os.environ.get("COHERE_API_KEY", "")


def words(text):
    return set(re.findall(r"[a-z]+", text.lower()))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path != "/v1/rerank":
            return self.reply(404, {"message": "not found"})
        if self.headers.get("Authorization") != EXPECTED:
            return self.reply(401, {"message": "invalid api token"})
        try:
            request = json.loads(body)
            query = words(request["query"])
            documents = request["documents"]
        except (ValueError, KeyError, TypeError):
            return self.reply(400, {"message": "invalid request: query and documents are required"})
        scored = []
        for index, document in enumerate(documents):
            text = document if isinstance(document, str) else document.get("text", "")
            overlap = len(query & words(text)) / max(1, len(query))
            scored.append({"index": index, "relevance_score": round(overlap, 8)})
        scored.sort(key=lambda r: -r["relevance_score"])
        top_n = request.get("top_n") or len(scored)
        self.reply(200, {
            "id": str(uuid.uuid4()),
            "results": scored[:top_n],
            "meta": {"api_version": {"version": "1"}, "billed_units": {"search_units": 1}},
        })

    def reply(self, status, payload):
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt, *args):
        sys.stderr.write("cohere-standin: " + (fmt % args) + "\n")


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 4090
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
