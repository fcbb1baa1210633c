"""The language-model interface: a request in, a completion out (async, with a sync helper).

Everything that talks to a model, real or fake, implements :class:`LanguageModel`; retry,
time limits, budgets, caching and usage accounting are wrappers with the same interface
(:mod:`sim.engines.llm.wrappers`). Only :mod:`sim.engines.llm.litellm_model` imports litellm.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field

from sim.core.secrets import redact

__all__ = [
    "BudgetExceeded",
    "Completion",
    "KEY_FORMAT",
    "LLMError",
    "LanguageModel",
    "Message",
    "PermanentError",
    "ProviderRefusal",
    "RejectedAnswer",
    "Request",
    "ToolCall",
    "TransientError",
    "Usage",
]

#: Bumped whenever what a cache key covers changes, so older entries are never replayed.
KEY_FORMAT = 3


@dataclass(frozen=True)
class ToolCall:
    """One tool call as the model wrote it: ``arguments`` is the raw JSON text, unparsed."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class Message:
    """One chat message in OpenAI's shape."""

    role: str  # system, user, assistant or tool
    content: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None  # on a tool result: the call it answers

    def to_dict(self) -> dict:
        """The message as the OpenAI chat API (and litellm) take it."""
        out: dict = {"role": self.role, "content": self.content}
        if self.tool_calls:
            out["tool_calls"] = [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments},
                }
                for c in self.tool_calls
            ]
        if self.tool_call_id is not None:
            out["tool_call_id"] = self.tool_call_id
        return out

    @classmethod
    def from_dict(cls, data: dict) -> Message:
        """Inverse of :meth:`to_dict`."""
        calls = tuple(
            ToolCall(c["id"], c["function"]["name"], c["function"]["arguments"])
            for c in data.get("tool_calls") or ()
        )
        return cls(data["role"], data.get("content"), calls, data.get("tool_call_id"))


@dataclass(frozen=True)
class Request:
    """Everything that determines a completion, plus how to reach the model.

    ``api_key_env`` names the environment variable holding the key; the key itself is
    read only at call time and never stored, logged, cached or written anywhere.
    ``protocol`` names the version of the caller's prompts and tool semantics (the engine
    sets it), so an answer cached for other prompts or tools is never replayed.
    ``max_answer_bytes`` caps the size of an answer (None: no cap). ``max_tokens`` bounds
    the tokens of one answer; ``tool_choice`` (``auto``, ``required``, ``none``; None: the
    provider's default) is passed on with the tools.
    """

    model: str
    messages: tuple[Message, ...]
    tools: tuple[dict, ...] = ()
    temperature: float = 0.0
    max_tokens: int | None = None
    seed: int | None = None
    timeout: float = 60.0
    api_base: str | None = None
    api_key_env: str | None = None
    protocol: str = ""
    max_answer_bytes: int | None = None
    tool_choice: str | None = None

    def cache_key(self) -> str:
        """SHA-256 of everything that decides the answer: model, server (``api_base``,
        credentials redacted), messages, tools, parameters, answer cap, protocol and seed
        (not the timeout or the key variable)."""
        what = {
            "key_format": KEY_FORMAT,
            "model": self.model,
            "api_base": redact(self.api_base),
            "protocol": self.protocol,
            "max_answer_bytes": self.max_answer_bytes,
            "messages": [m.to_dict() for m in self.messages],
            "tools": list(self.tools),
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "tool_choice": self.tool_choice,
            "seed": self.seed,
        }
        text = json.dumps(what, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Usage:
    """Tokens and cost (US dollars, 0 when unknown) of one completion."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0


@dataclass(frozen=True)
class Completion:
    """The model's answer: an assistant message (text and/or tool calls) and its usage."""

    message: Message
    usage: Usage = field(default_factory=Usage)
    finish_reason: str | None = None

    def to_dict(self) -> dict:
        """A JSON-ready form (for the cache and transcripts)."""
        return {
            "message": self.message.to_dict(),
            "usage": asdict(self.usage),
            "finish_reason": self.finish_reason,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Completion:
        """Inverse of :meth:`to_dict`."""
        message, usage = Message.from_dict(data["message"]), Usage(**data["usage"])
        return cls(message, usage, data["finish_reason"])


class LLMError(Exception):
    """A call that produced no usable completion. ``kind`` names the failure class."""

    kind = "error"


class TransientError(LLMError):
    """Worth retrying: rate limit, server error, timeout, dropped connection."""


class PermanentError(LLMError):
    """Not worth retrying: bad request, authentication, unknown model."""


class ProviderRefusal(LLMError):
    """The provider refused to answer (content policy)."""

    kind = "refused_by_provider"


class RejectedAnswer(LLMError):
    """An answer refused before use: over the byte cap, or with tool arguments that could not
    be read. Never retried (the same answer would come again, and be billed again).
    ``answer`` holds what is kept of it (text at most the cap, with a note) for the
    transcript and the cache."""

    kind = "rejected_answer"

    def __init__(self, text: str, answer: Completion):
        super().__init__(text)
        self.answer = answer


class BudgetExceeded(LLMError):
    """A call, token or cost cap was reached; no call was made."""

    kind = "budget_exceeded"


class LanguageModel(ABC):
    """A model that completes chat requests."""

    @abstractmethod
    async def acomplete(self, request: Request) -> Completion:
        """Complete ``request``; raise :class:`LLMError` when no completion can be had."""

    def complete(self, request: Request) -> Completion:
        """Synchronous :meth:`acomplete` (not from inside a running event loop)."""
        return asyncio.run(self.acomplete(request))
