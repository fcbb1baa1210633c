"""A real model through litellm: the only module that imports litellm, and only on a call.

``LiteLLMModel().acomplete(request)`` sends ``request`` to ``request.model`` (any litellm
model string; ``openai/<name>`` with ``api_base`` for an OpenAI-compatible server) and
returns a :class:`~sim.engines.llm.model.Completion`. litellm's own retries are off
(``num_retries=0``): retrying is :class:`~sim.engines.llm.wrappers.Retrying`'s job.

The API key is read at call time from the environment variable named by
``request.api_key_env`` (registered with :func:`~sim.core.secrets.register_secret_env`, so
it is redacted everywhere); a missing variable is a :class:`PermanentError` naming the
variable. A credential taken out of ``api_base`` (:func:`~sim.core.secrets.credential_for`)
is sent as the API key or as an HTTP Basic ``Authorization`` header, to the URL without it.
With ``api_base`` set and no key from either, a placeholder key is sent, so a key found in
the environment (``OPENAI_API_KEY``) never goes to a custom endpoint.

Failures become :class:`~sim.engines.llm.model.LLMError` subclasses, each with its ``kind``
(:mod:`sim.engines.llm.litellm_errors`).
"""

from __future__ import annotations

import gc
import json
import logging
import math
import os
from contextlib import nullcontext

from sim.core.errors import ConfigError
from sim.core.secrets import credential_for, register_secret_env
from sim.engines.llm.litellm_errors import (
    INSTALL_HINT,
    EmptyResponse,
    MalformedResponse,
    llm_error,
    map_error,
    rejection,
)
from sim.engines.llm.model import (
    Completion,
    LanguageModel,
    LLMError,
    Message,
    PermanentError,
    ProviderRefusal,
    Request,
    ToolCall,
    Usage,
)

__all__ = ["LiteLLMModel", "price_per_token"]

PLACEHOLDER_KEY = "no-key-needed"
#: litellm's own loggers, and httpx's (one INFO line per HTTP request).
_LOGGERS = ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "httpx")


_set_up = False  # True once _litellm has set litellm up in this process


def _litellm(verbose: bool = False):
    global _set_up
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network at import
    try:
        import litellm
    except ImportError as exc:
        raise llm_error(PermanentError, f"{exc} ({INSTALL_HINT})", "not_installed") from None

    if not _set_up:
        litellm.suppress_debug_info = True  # no "Give Feedback / Get Help" banner on errors
        _freeze_heap()
        _set_up = True
    if "LITELLM_LOG" not in os.environ:  # it logs each call at INFO: thousands of lines a run
        level = logging.INFO if verbose else logging.WARNING
        for name in _LOGGERS:
            logger = logging.getLogger(name)
            if logger.level != level:  # setLevel clears every logger's cache: not per call
                logger.setLevel(level)
    return litellm


def _freeze_heap() -> None:
    """Keep the objects alive now, above all the ~400,000 that importing litellm made, out
    of every later garbage collection. A full collection walks all tracked objects: with
    litellm loaded, about 150 ms with the event loop stopped, every 500 or so calls (0.3 ms
    of CPU a call, and a stall for every call in flight). They live as long as the process
    anyway; the one cost is that a reference cycle among them that dies later is never
    reclaimed (collected first, so that nothing frozen is garbage already)."""
    gc.collect()
    gc.freeze()


def _cost(litellm, response) -> float:
    """The call's cost in dollars, 0.0 when litellm cannot price it (never raises)."""
    try:
        hidden = getattr(response, "_hidden_params", None) or {}
        cost = hidden.get("response_cost")
        if cost is None and "response_cost" not in hidden:  # None here: already tried
            cost = litellm.completion_cost(completion_response=response)
        cost = float(cost or 0.0)
        return cost if math.isfinite(cost) and cost >= 0 else 0.0
    except Exception:
        return 0.0


def _completion(litellm, response, model: str) -> Completion:
    """Map a litellm ``ModelResponse`` (raises MalformedResponse/EmptyResponse)."""
    try:
        choices = response.choices
        if not choices:
            raise llm_error(EmptyResponse, f"{model}: the provider returned no choices")
        choice = choices[0]
        message = choice.message
        content = message.content
        if content is not None and not isinstance(content, str):
            content = json.dumps(content)
        calls = []
        for i, call in enumerate(getattr(message, "tool_calls", None) or ()):
            arguments = call.function.arguments
            if not isinstance(arguments, str):
                arguments = json.dumps(arguments)
            calls.append(ToolCall(call.id or f"call_{i}", call.function.name, arguments))
        finish = choice.finish_reason
        if finish == "content_filter" and not content and not calls:
            raise llm_error(ProviderRefusal, f"{model}: the provider filtered the answer")
        usage = getattr(response, "usage", None)
        prompt = int(getattr(usage, "prompt_tokens", 0) or 0)
        completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
    except LLMError:
        raise
    except Exception as exc:
        raise llm_error(MalformedResponse, f"{model}: unreadable response: {exc!r}") from None
    return Completion(
        Message("assistant", content, tuple(calls)),
        Usage(prompt, completion_tokens, _cost(litellm, response)),
        finish,
    )


class LiteLLMModel(LanguageModel):
    """A :class:`LanguageModel` calling ``litellm.acompletion``. ``extra`` keyword
    arguments (never keys) are passed through to every call. litellm's and httpx's log
    lines per call are shown only when ``verbose`` (or when ``LITELLM_LOG`` sets them)."""

    def __init__(self, verbose: bool = False, **extra):
        self.verbose = verbose
        self.extra = extra

    def _kwargs(self, request: Request) -> dict:
        kwargs: dict = {
            "model": request.model,
            "messages": [m.to_dict() for m in request.messages],
            "temperature": request.temperature,
            "timeout": request.timeout,
            "num_retries": 0,
            **self.extra,
        }
        if request.tools:
            kwargs["tools"] = list(request.tools)
            if request.tool_choice is not None:
                kwargs["tool_choice"] = request.tool_choice
        if request.max_tokens is not None:
            kwargs["max_tokens"] = request.max_tokens
        if request.seed is not None:
            kwargs["seed"] = request.seed
        credential = None
        if request.api_base:
            try:
                credential = credential_for(request.api_base)
            except ConfigError as exc:
                raise llm_error(PermanentError, f"{request.model}: {exc}", "missing_key") from None
            kwargs["api_base"] = credential.url if credential else request.api_base
        if credential and credential.basic:
            kwargs["extra_headers"] = credential.headers()
        if request.api_key_env:
            register_secret_env(request.api_key_env)
            key = os.environ.get(request.api_key_env)
            if not key:
                raise llm_error(
                    PermanentError,
                    f"{request.model}: environment variable {request.api_key_env} "
                    "(named by api_key_env) is not set or empty",
                    "missing_key",
                )
            kwargs["api_key"] = key
        elif credential and credential.api_key:
            kwargs["api_key"] = credential.api_key
        elif request.api_base:
            kwargs["api_key"] = PLACEHOLDER_KEY
        return kwargs

    async def acomplete(self, request: Request) -> Completion:
        kwargs = self._kwargs(request)
        litellm = _litellm(self.verbose)
        from sim.engines.llm import answer_cap

        litellm.aclient_session = answer_cap.session()
        cap, error = request.max_answer_bytes, None
        with answer_cap.capped(cap) if cap else nullcontext() as body:
            try:
                response = await litellm.acompletion(**kwargs)
            except Exception as exc:  # mapped, then raised outside: no chained original
                error = rejection(exc, request.model, body, cap)
                error = error or map_error(exc, litellm.exceptions, request.model)
        del kwargs  # holds the key
        if error is not None:
            raise error
        completion = _completion(litellm, response, request.model)
        answer_cap.check_size(completion, cap, request.model)
        return completion


def price_per_token(model: str) -> tuple[float, float] | None:
    """USD per prompt and per completion token from litellm's local price list, or None
    for a model it does not price."""
    try:
        entry = _litellm().model_cost.get(model) or _litellm().model_cost.get(
            model.split("/", 1)[-1]
        )
    except LLMError:  # litellm not installed
        return None
    if not entry or "input_cost_per_token" not in entry:
        return None
    return float(entry["input_cost_per_token"]), float(entry.get("output_cost_per_token", 0.0))
