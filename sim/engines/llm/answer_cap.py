"""The byte cap on an answer, enforced on the HTTP body before anything parses or logs it.

litellm sends an OpenAI-compatible request (``openai/<name>``, with or without ``api_base``)
through the httpx client in ``litellm.aclient_session`` when one is set.
:func:`session` returns the running event loop's :class:`CappedClient` for that place (one
per loop: connections are bound to the loop they were made on; it sends through litellm's
aiohttp transport, as litellm's own client does). Inside
:func:`capped`, its ``send`` counts the body's bytes as they arrive and stops at the cap
(:class:`AnswerTooLarge`): the rest is never read, so neither litellm's JSON parsing nor
its logging sees an over-cap body, and memory stays within about two caps per call in
flight. The bytes read (at most the cap) are kept in :class:`Body`, for the transcript of an
answer that is then rejected. The client asks for an uncompressed body, so bytes on the wire
are the bytes parsed. Providers litellm reaches through its own HTTP handler (anthropic/,
gemini/, openrouter/) do not use this client; their answers are capped after litellm has
read them (:mod:`sim.engines.llm.litellm_model`).

Imported only by :mod:`sim.engines.llm.litellm_model` when a real model is called (httpx
comes with litellm).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import httpx

from sim.engines.llm.model import Completion, Message, RejectedAnswer, Usage

__all__ = [
    "AnswerTooLarge",
    "Body",
    "CappedClient",
    "capped",
    "check_size",
    "rejected",
    "session",
]


class AnswerTooLarge(Exception):
    """The answer's body passed the cap; reading stopped there."""

    def __init__(self, cap: int):
        super().__init__(f"the answer is larger than llm.max_answer_bytes={cap}")
        self.cap = cap


class Body:
    """The cap of one call and the bytes of its answer read so far (at most ``cap``)."""

    def __init__(self, cap: int):
        self.cap = cap
        self.data = bytearray()

    def text(self) -> str:
        """The bytes read as text; a character cut in two at the cap is dropped."""
        return self.data.decode("utf-8", errors="ignore")


_BODY: ContextVar[Body | None] = ContextVar("sim_llm_answer_body", default=None)
_CLIENTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def rejected(model: str, why: str, text: str, cap: int | None) -> RejectedAnswer:
    """The error for an answer rejected for ``why``; its ``answer`` keeps ``text`` (the
    answer's raw text, at most ``cap`` bytes) and a note saying why and what was kept."""
    kept = f"at most its first {cap} bytes are kept above" if cap else "nothing of it is kept"
    note = f"[answer rejected: {why}; {kept}]"
    message = Message("assistant", f"{text}\n{note}" if text else note)
    return RejectedAnswer(f"{model}: answer rejected: {why}", Completion(message, Usage(), None))


def check_size(completion: Completion, cap: int | None, model: str) -> None:
    """Raise :func:`rejected` when the text and tool arguments of ``completion`` together
    pass ``cap`` bytes: the cap for answers that did not come through :class:`CappedClient`."""
    message = completion.message
    parts = [message.content or "", *(c.arguments for c in message.tool_calls)]
    data = "".join(parts).encode()
    if cap is None or len(data) <= cap:
        return
    text = data[:cap].decode("utf-8", errors="ignore")
    raise rejected(model, f"over llm.max_answer_bytes={cap}", text, cap)


@contextmanager
def capped(cap: int) -> Iterator[Body]:
    """Cap the answers read by :class:`CappedClient` in this context at ``cap`` bytes."""
    body = Body(cap)
    token = _BODY.set(body)
    try:
        yield body
    finally:
        _BODY.reset(token)


class _CappedStream(httpx.AsyncByteStream):
    """A response body that keeps what it passes on and stops past ``body.cap`` bytes."""

    def __init__(self, inner: httpx.AsyncByteStream, body: Body):
        self.inner, self.body = inner, body

    async def __aiter__(self):
        async for chunk in self.inner:
            room = self.body.cap - len(self.body.data)
            self.body.data += chunk[:room]
            if len(chunk) > room:
                raise AnswerTooLarge(self.body.cap)
            yield chunk

    async def aclose(self) -> None:
        await self.inner.aclose()


class CappedClient(httpx.AsyncClient):
    """An httpx client whose bodies are capped inside :func:`capped` (else as httpx's)."""

    async def send(self, request: httpx.Request, *, stream: bool = False, **kwargs):
        body = _BODY.get()
        if body is None:
            return await super().send(request, stream=stream, **kwargs)
        body.data.clear()  # a redirect or a retry inside the client starts again
        request.headers["Accept-Encoding"] = "identity"
        response = await super().send(request, stream=True, **kwargs)
        response.stream = _CappedStream(response.stream, body)
        if not stream:
            try:
                await response.aread()
            except BaseException:
                await response.aclose()  # drops the connection: the rest is never read
                raise
        return response


def session() -> CappedClient:
    """The running event loop's client (made on first use)."""
    loop = asyncio.get_running_loop()
    client = _CLIENTS.get(loop)
    if client is None:
        client = _CLIENTS[loop] = CappedClient(transport=_transport(), timeout=None)
    return client


def _transport() -> httpx.AsyncBaseTransport:
    """litellm's own aiohttp transport (what its default client uses), not httpx's: httpx's
    connection pool does work quadratic in its connections on every request it queues or
    releases, which at 64 calls in flight took most of the client's CPU."""
    from litellm.llms.custom_httpx.http_handler import AsyncHTTPHandler

    return AsyncHTTPHandler.create_aiohttp_transport()
