"""A loopback OpenAI-compatible chat server for tests: scripted replies, faults and latency.

>>> with LLMServer(lambda body: completion("hi")) as server:
...     server.api_base  # 'http://127.0.0.1:<port>/v1'

The handler gets the request's JSON body and returns a :class:`Reply` (build one with
:func:`completion`, :func:`error`, :func:`garbage`, :func:`truncated`, :func:`empty_choices`
or :func:`hang`). It can also be a single reply (served every time) or a list of replies
(served in order; the last one repeats). The server counts requests, the most requests in
flight at once and the client connections they came on, and keeps every request's body and
headers (for assertions only).

A completion's ``prompt_tokens`` defaults to what a real server would count: about one
token per 4 characters of the request's messages and tools. ``LLMServer(handler,
ignore_tools=True)`` behaves like llama.cpp's server without a tool-calling chat template:
it drops ``tools`` and ``tool_choice`` before the handler (and the token count) sees them.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

__all__ = [
    "LLMServer",
    "Reply",
    "completion",
    "empty_choices",
    "error",
    "garbage",
    "hang",
    "llm_server_fixture",
    "truncated",
]

PATHS = ("/v1/chat/completions", "/chat/completions")


@dataclass
class Reply:
    """What the server answers: a status, a body (JSON-able or raw bytes) and a delay."""

    status: int = 200
    body: dict | bytes = field(default_factory=dict)
    delay: float = 0.0
    headers: dict = field(default_factory=dict)

    def encoded(self) -> bytes:
        return self.body if isinstance(self.body, bytes) else json.dumps(self.body).encode()


def completion(
    content: str | None = None,
    tool_calls: list[tuple[str, dict]] = (),
    *,
    prompt_tokens: int | None = None,
    completion_tokens: int = 7,
    model: str = "test-model",
    delay: float = 0.0,
    finish_reason: str | None = None,
) -> Reply:
    """A normal chat completion: text and/or tool calls ``[(name, arguments), ...]``
    (``prompt_tokens`` None: counted by the server from the request)."""
    message: dict = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = [
            {"id": f"call_{i}", "type": "function",
             "function": {"name": name, "arguments": json.dumps(args)}}
            for i, (name, args) in enumerate(tool_calls)
        ]  # fmt: skip
    finish = finish_reason or ("tool_calls" if tool_calls else "stop")
    body = {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1700000000,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": None if prompt_tokens is None else prompt_tokens + completion_tokens,
        },
    }
    return Reply(200, body, delay)


def error(status: int, message: str = "scripted error", *, delay: float = 0.0) -> Reply:
    """An HTTP error in OpenAI's error shape (429, 500, 503, 400, 401, ...)."""
    body = {"error": {"message": message, "type": "test_error", "code": str(status)}}
    headers = {"Retry-After": "0"} if status == 429 else {}
    return Reply(status, body, delay, headers)


def garbage(*, delay: float = 0.0) -> Reply:
    """A 200 whose body is not JSON at all."""
    return Reply(200, b"\x00\xffthis is not json<html>", delay)


def truncated(*, delay: float = 0.0) -> Reply:
    """A 200 whose body is a completion cut off mid-JSON."""
    text = completion("cut short").encoded()
    return Reply(200, text[: len(text) // 2], delay)


def empty_choices(*, delay: float = 0.0) -> Reply:
    """A well-formed completion with no choices."""
    reply = completion("unused", delay=delay)
    reply.body["choices"] = []
    return reply


def hang(seconds: float = 30.0) -> Reply:
    """No answer for ``seconds`` (longer than the client's timeout), then a completion."""
    return completion("too late", delay=seconds)


Handler = Callable[[dict], Reply] | Reply | list


class LLMServer:
    """The server: a context manager running ``ThreadingHTTPServer`` on 127.0.0.1 (port 0)
    in a daemon thread. Delays wait on an event, so closing the server ends hangs at once."""

    def __init__(self, handler: Handler, ignore_tools: bool = False):
        self.handler = handler
        self.ignore_tools = ignore_tools
        self.requests: list[dict] = []
        self.headers: list[dict] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.peers: set = set()  # the client (host, port) of every connection a request came on
        self._served = 0
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None

    @property
    def count(self) -> int:
        """Requests received (including malformed ones and ones that hung)."""
        return len(self.requests)

    @property
    def api_base(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    @property
    def connections(self) -> int:
        """Client connections the requests came on (a client that keeps its connections
        alive sends many requests on one)."""
        return len(self.peers)

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.peers.clear()
            self.headers.clear()
            self.max_in_flight = self.in_flight
            self._served = 0

    def _reply_for(self, body: dict) -> Reply:
        with self._lock:
            index = self._served
            self._served += 1
        if self.ignore_tools:
            body = {k: v for k, v in body.items() if k not in ("tools", "tool_choice")}
        if isinstance(self.handler, Reply):
            reply = self.handler
        elif isinstance(self.handler, list):
            reply = self.handler[min(index, len(self.handler) - 1)]
        else:
            reply = self.handler(body)
        usage = reply.body.get("usage") if isinstance(reply.body, dict) else None
        if usage and usage["prompt_tokens"] is None:  # counted as a server would
            seen = json.dumps([body.get("messages"), body.get("tools")])
            counted = {**usage, "prompt_tokens": len(seen) // 4 + 1}
            counted["total_tokens"] = counted["prompt_tokens"] + usage["completion_tokens"]
            reply = replace(reply, body={**reply.body, "usage": counted})
        return reply

    def __enter__(self) -> LLMServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else headers + body stall ~40 ms (delayed ACK)

            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path.split("?")[0] not in PATHS:
                    self._send(Reply(404, {"error": {"message": f"no route {self.path}"}}))
                    return
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = {"_unparsed": raw.decode(errors="replace")}
                with server._lock:
                    server.requests.append(body)
                    server.headers.append(dict(self.headers))
                    server.peers.add(self.client_address)
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    reply = server._reply_for(body)
                    if reply.delay > 0:
                        server._closing.wait(reply.delay)
                    self._send(reply)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout): nothing to answer
                finally:
                    with server._lock:
                        server.in_flight -= 1

            def _send(self, reply: Reply) -> None:
                data = reply.encoded()
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 512  # many concurrent connects must not hit the backlog

        self._httpd = Server(("127.0.0.1", 0), Handler)
        threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()  # a short poll: shutdown() returns at once
        return self

    def __exit__(self, *exc) -> None:
        self._closing.set()
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture(name="llm_server")
def llm_server_fixture() -> Iterator[Callable[..., LLMServer]]:
    """Factory fixture ``llm_server`` (import this function into a test module):
    ``server = llm_server(handler)`` (or ``llm_server(handler, ignore_tools=True)``) starts
    a server, closed after the test."""
    started: list[LLMServer] = []

    def start(handler: Handler, ignore_tools: bool = False) -> LLMServer:
        server = LLMServer(handler, ignore_tools).__enter__()
        started.append(server)
        return server

    yield start
    for server in started:
        server.__exit__(None, None, None)
