"""A real OpenAI-compatible chat-completions server on loopback, for tests and benchmarks.

Contract: ``EndpointServer(latency_s, faults, reject)`` serves ``POST .../chat/completions`` on
127.0.0.1 (a free port) from threads, like vLLM or a llama.cpp server would, enough for LlamaIndex's
``OpenAILike`` and the ragas judge:

- a RAG prompt (no ``response_format``) gets a short cited answer that repeats the question line,
  so a test can check each answer belongs to its question;
- a judge prompt (``response_format`` with a JSON schema) gets JSON valid for the schema
  (``ragbench.models.fake_instance``) whose strings name the item the question asks about
  ("Where is item <name> stored?"), so a test can check each verdict belongs to its question;
- every reply waits ``latency_s`` first (a slow model);
- ``faults`` maps request numbers (1, 2, ... in arrival order) to a failure: ``"429"`` (with
  ``Retry-After: 1``), ``"429-date"`` (``Retry-After`` as an HTTP date about 2 s ahead), ``"500"``,
  ``"drop"`` (the connection is closed without a reply), ``"drip"`` (a 200 whose headers come at
  once and whose body then trickles, 1 byte every ``drip_s``, for at most ``drip_for_s`` before
  the server gives up and closes the connection), ``"html"`` (a 200 ``text/html`` page, as a
  captive portal or a misrouted proxy sends) and ``"notjson"`` (a 200 ``application/json`` whose
  body is not JSON: ``notjson``), ``"filtered"`` (a 200 completion whose ``content`` is null
  and whose ``finish_reason`` is ``content_filter``, as a provider's safety filter answers) and
  ``"empty"`` (a 200 completion whose ``content`` is ``""``). The schedule is deterministic: the
  n-th request fails, whichever question it is for;
- a RAG prompt containing ``reject`` gets a 400 (not retryable).

``write_dataset(root, items)`` writes a qa-folder dataset of one document and one such question per
item (a question about the ``poisoned`` item also carries ``reject``). It records what happened (``outcomes`` counts replies by kind; ``waited`` holds, for each 429, the
earliest time its ``Retry-After`` allowed and the time the same request came back). Run as a
script it serves until killed and prints its base URL (``--latency``).

``loopback_experiment(data, url, concurrency)`` is the experiment run against it, the one
definition tests/test_concurrency.py and benchmarks/concurrency.py share.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import re
import socket
import sys
import threading
import time
from collections import Counter
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from ragbench.models import fake_instance

QUESTION = re.compile(r"Where is item (\w+) stored")
# Item names are words of 4+ letters: fake_instance builds its strings from such words.
ITEMS = (
    "alpha bravo charlie delta echo foxtrot golf hotel india juliett kilo lima "
    "mike november oscar papa quebec romeo sierra tango uniform victor whiskey xray"
).split()


def write_dataset(root: Path, items: list[str], poisoned: str | None = None) -> Path:
    """A qa-folder dataset: ``<item>.md`` and the question "Where is item <item> stored?"."""
    (root / "corpus").mkdir(parents=True)
    questions = []
    for n, item in enumerate(items, start=1):
        (root / "corpus" / f"{item}.md").write_text(
            f"# {item.title()}\nThe {item} crate is kept in room {100 + n} of the east wing.\n"
        )
        text = f"Where is item {item} stored?" + (" POISON" if item == poisoned else "")
        questions.append(
            {
                "question_id": item,
                "user_input": text,
                "reference": f"Room {100 + n}.",
                "gold_doc_ids": [f"{item}.md"],
            }
        )
    (root / "questions.jsonl").write_text("".join(json.dumps(q) + "\n" for q in questions))
    return root


JUDGED = ["faithfulness", "context_recall"]  # per question: 2 judge calls + 1 (and one answer)


def loopback_experiment(
    data: Path, url: str, concurrency: int, limit: int | None = None
) -> dict[str, Any]:
    """Experiment mapping: a ``write_dataset`` folder answered and judged by the server at ``url``.

    Two trials (top_k 1 and 2), hashing embeddings, hit_rate plus ``JUDGED``; ``limit`` questions
    per trial (None: all).
    """
    endpoint = {
        "provider": "openai",
        "model": "loopback",
        "base_url": url,
        "timeout_s": 30.0,
        "max_retries": 5,  # more than a test schedules faults: none can exhaust a call's retries
        "concurrency": concurrency,
    }
    return {
        "name": "concurrency",
        "dataset": {"loader": "qa-folder", "path": str(data)},
        "base": {
            "embedding": {"provider": "hashing"},
            "generation": {"llm": endpoint},
            "judge": endpoint,
        },
        "sweep": {"retrieval.top_k": [1, 2]},
        "metrics": ["hit_rate", *JUDGED],
        "limit": limit,
    }


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # many clients connect at once
    endpoint: EndpointServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away (a killed run) is expected here, not worth a traceback."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status, headers, reply = self.server.endpoint.respond(self.path, body)
        if status == 0:  # "drop": close the connection without a reply
            self._drop()
            return
        data = reply if isinstance(reply, bytes) else json.dumps(reply).encode()
        drip = headers.pop("X-Drip", None) is not None
        self.send_response(status)
        headers.setdefault("Content-Type", "application/json")
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if not drip:
            self.wfile.write(data)
            return
        endpoint = self.server.endpoint
        until = time.monotonic() + endpoint.drip_for_s
        try:
            for byte in data:
                if time.monotonic() >= until:
                    break
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(endpoint.drip_s)
        except OSError:
            return  # the client gave up: what a deadline should make it do
        self._drop()

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def log_message(self, *args: Any) -> None:  # keep test output quiet
        pass


class EndpointServer:
    """See the module docstring; use as a context manager (``with EndpointServer() as s``)."""

    def __init__(
        self,
        latency_s: float = 0.0,
        faults: dict[int, str] | None = None,
        reject: str | None = "POISON",
        port: int = 0,
        drip_s: float = 1.0,
        drip_for_s: float = 15.0,
        notjson: bytes = b"upstream model loading, try later",
    ) -> None:
        self.latency_s = latency_s
        self.drip_s = drip_s
        self.drip_for_s = drip_for_s
        self.notjson = notjson
        self.faults = dict(faults or {})
        self.reject = reject
        self.lock = threading.Lock()
        self.requests = 0
        self.outcomes: Counter[str] = Counter()
        self.waited: list[tuple[float, float]] = []  # (Retry-After allowed from, came back at)
        self._pending: dict[str, float] = {}  # body hash of a 429'd request -> allowed from
        self._server = _Server(("127.0.0.1", port), _Handler)
        self._server.endpoint = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> EndpointServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def respond(self, path: str, body: bytes) -> tuple[int, dict[str, str], Any]:
        """(status, headers, JSON reply) for one request; status 0 means "drop the connection"."""
        arrived = time.time()
        digest = hashlib.sha256(body).hexdigest()
        with self.lock:
            self.requests += 1
            fault = self.faults.get(self.requests)
            if digest in self._pending:
                self.waited.append((self._pending.pop(digest), arrived))
        if not path.endswith("/chat/completions"):
            return self._count("404"), {}, {"error": {"message": f"no route {path}"}}
        request = json.loads(body)
        prompt = str(request["messages"][-1]["content"])
        schema = (request.get("response_format") or {}).get("schema")
        time.sleep(self.latency_s)
        if fault == "drop":
            self._count("drop")
            return 0, {}, None
        if fault in ("429", "429-date"):
            if fault == "429":
                allowed, after = time.time() + 1, "1"
            else:  # an HTTP date has whole seconds: 2 s ahead, rounded up
                allowed = float(math.ceil(time.time()) + 2)
                after = formatdate(allowed, usegmt=True)
            with self.lock:
                self._pending[digest] = allowed
            error = {"error": {"message": "rate limited", "type": "rate_limit"}}
            return self._count(fault), {"Retry-After": after}, error
        if fault == "500":
            return self._count("500"), {}, {"error": {"message": "model crashed", "type": "server"}}
        if fault == "html":
            page = b"<html><head><title>Sign in</title></head><body>Proxy login</body></html>"
            return self._count("html"), {"Content-Type": "text/html"}, page
        if fault == "notjson":
            return self._count("notjson"), {}, self.notjson
        if fault in ("filtered", "empty"):
            self._count(fault)
            content, reason = (None, "content_filter") if fault == "filtered" else ("", "stop")
            usage = {"prompt_tokens": len(prompt.split()), "completion_tokens": 0}
            reply = _completion(request.get("model", "loopback"), content, usage, reason)
            return 200, {}, reply
        if schema is None and self.reject and self.reject in prompt:
            error = {"error": {"message": f"prompt contains {self.reject}", "type": "invalid"}}
            return self._count("400"), {}, error
        found = QUESTION.search(prompt)
        item = found.group(1) if found else "unknown"
        if schema is not None:
            text = json.dumps(fake_instance(schema, f"Statement about item {item} stored"))
            self._count("judge")
        else:
            question = prompt.rsplit("Question:", 1)[-1].split("\n", 1)[0].strip()
            text = f"{question} It is answered by the first source [1]."
            self._count("answer")
        usage = {"prompt_tokens": len(prompt.split()), "completion_tokens": len(text.split())}
        headers = {"X-Drip": "1"} if fault == "drip" else {}
        if fault == "drip":
            self._count("drip")
        return 200, headers, _completion(request.get("model", "loopback"), text, usage)

    def _count(self, kind: str) -> int:
        with self.lock:
            self.outcomes[kind] += 1
        return {"404": 404, "429": 429, "429-date": 429, "500": 500, "400": 400}.get(kind, 200)


def _completion(
    model: str, text: str | None, usage: dict[str, int], finish_reason: str = "stop"
) -> dict[str, Any]:
    return {
        "id": "chatcmpl-loopback",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": finish_reason,
            }
        ],
        "usage": usage | {"total_tokens": sum(usage.values())},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.2, help="seconds per reply")
    args = parser.parse_args()
    with EndpointServer(latency_s=args.latency) as server:
        print(server.url, flush=True)
        while True:
            time.sleep(3600)


if __name__ == "__main__":
    main()
