"""How litellm's failures become :class:`~sim.engines.llm.model.LLMError` subclasses.

Each is an :class:`LLMError` whose message went through
:func:`~sim.core.secrets.redact`, with ``kind`` set per error:

=========================================================  ====================  ==============
litellm exception / outcome                                raised                kind
=========================================================  ====================  ==============
RateLimitError, HTTP 429                                   TransientError        rate_limit
InternalServerError, ServiceUnavailable, BadGateway, 5xx   TransientError        server_error
APIConnectionError                                         TransientError        connection
Timeout                                                    TransientError        timeout
AuthenticationError (401)                                  PermanentError        auth
PermissionDeniedError (403)                                PermanentError        permission
NotFoundError (404)                                        PermanentError        not_found
ContextWindowExceededError                                 PermanentError        context_window
BadRequestError, UnprocessableEntity, other 4xx            PermanentError        bad_request
missing key variable                                       PermanentError        missing_key
ContentPolicyViolationError, ``content_filter`` finish     ProviderRefusal       refused_by_provider
litellm, or a module it needs (mcp for tools), missing     PermanentError        not_installed
body over ``max_answer_bytes``, arguments nested too deep   RejectedAnswer        rejected_answer
body not JSON (litellm calls it a 500) or bad shape        MalformedResponse     malformed
no choices                                                 EmptyResponse         empty
anything else                                              LLMError              error
=========================================================  ====================  ==============

A malformed, rejected or empty response is not retried (an :class:`LLMError`, not
transient). The cap on an answer's bytes (``request.max_answer_bytes``) bites on the HTTP
body for OpenAI-compatible models, before litellm parses it (:mod:`sim.engines.llm.answer_cap`),
and on the parsed answer for the others.
"""

from __future__ import annotations

import json

from sim.core.secrets import redact
from sim.engines.llm.model import LLMError, PermanentError, ProviderRefusal, TransientError

__all__ = ["INSTALL_HINT", "EmptyResponse", "MalformedResponse", "in_chain", "llm_error",
           "map_error", "rejection"]  # fmt: skip

INSTALL_HINT = "install the llm extra: pip install -e '.[llm]'"
_MAX_MESSAGE = 1000


class MalformedResponse(LLMError):
    """The provider's answer could not be read as a chat completion."""

    kind = "malformed"


class EmptyResponse(LLMError):
    """The provider answered with no choices."""

    kind = "empty"


def llm_error(cls: type[LLMError], text: str, kind: str | None = None, status=None) -> LLMError:
    """An error of class ``cls``, its message cut and redacted, with ``kind`` and the HTTP
    ``status`` when given."""
    # Cut before redacting too: a rejected answer's error text can hold the whole answer.
    error = cls(redact(text[: 4 * _MAX_MESSAGE])[:_MAX_MESSAGE])
    if kind is not None:
        error.kind = kind
    if isinstance(status, int):
        error.status_code = status
    return error


def in_chain(exc: BaseException | None, kind: type[BaseException]) -> bool:
    """Whether an exception of type ``kind`` is in ``exc``'s cause/context chain."""
    for _ in range(10):
        if exc is None:
            return False
        if isinstance(exc, kind):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def map_error(exc: Exception, exceptions, model: str = "") -> LLMError:
    """The :class:`LLMError` for an exception raised by ``litellm.acompletion``;
    ``exceptions`` is ``litellm.exceptions`` (litellm is imported in one module only,
    :mod:`sim.engines.llm.litellm_model`)."""
    ex = exceptions
    status = getattr(exc, "status_code", None)
    text = f"{model}: {type(exc).__name__}: {exc}" if model else f"{type(exc).__name__}: {exc}"
    table = [
        (ex.ContentPolicyViolationError, ProviderRefusal, None),
        (ex.Timeout, TransientError, "timeout"),
        (ex.RateLimitError, TransientError, "rate_limit"),
        (ex.APIConnectionError, TransientError, "connection"),
        (ex.AuthenticationError, PermanentError, "auth"),
        (ex.PermissionDeniedError, PermanentError, "permission"),
        (ex.NotFoundError, PermanentError, "not_found"),
        (ex.ContextWindowExceededError, PermanentError, "context_window"),
        (ex.BadRequestError, PermanentError, "bad_request"),
        (ex.UnprocessableEntityError, PermanentError, "bad_request"),
        (ex.APIResponseValidationError, MalformedResponse, None),
    ]
    if in_chain(exc, ImportError):  # litellm reports a missing module as a connection error
        return llm_error(PermanentError, f"{text} ({INSTALL_HINT})", "not_installed")
    if in_chain(exc, json.JSONDecodeError):  # litellm calls a body that is not JSON a 500
        return llm_error(MalformedResponse, text, status=status)
    for litellm_class, cls, kind in table:
        if isinstance(exc, litellm_class):
            return llm_error(cls, text, kind, status)
    server = (ex.InternalServerError, ex.ServiceUnavailableError, ex.BadGatewayError)
    if isinstance(exc, server) or (isinstance(status, int) and status >= 500):
        return llm_error(TransientError, text, "server_error", status)
    if status == 429:
        return llm_error(TransientError, text, "rate_limit", status)
    if isinstance(status, int) and 400 <= status < 500:
        return llm_error(PermanentError, text, "bad_request", status)
    if isinstance(exc, TimeoutError):
        return llm_error(TransientError, text, "timeout")
    if isinstance(exc, ConnectionError):
        return llm_error(TransientError, text, "connection")
    return llm_error(LLMError, text, status=status)


def rejection(exc: Exception, model: str, body, cap: int | None) -> LLMError | None:
    """The :class:`RejectedAnswer` for an answer over the cap, or one nested too deeply for
    litellm to read (1,000 ``[`` as tool arguments: it fails with a RecursionError and calls
    that a server error); None for other errors."""
    from sim.engines.llm.answer_cap import AnswerTooLarge, rejected

    if in_chain(exc, AnswerTooLarge):
        why = f"over llm.max_answer_bytes={cap}"
    elif in_chain(exc, RecursionError):
        why = "nested too deeply to read"
    else:
        return None
    return rejected(model, why, body.text() if body is not None else "", cap)
