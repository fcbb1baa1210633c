"""Keep API keys out of transcripts, logs, caches and error messages.

:func:`redact` replaces, in a string or recursively in a dict, list or tuple:

* the current value of every environment variable whose name looks like a secret (ends in
  ``API_KEY``, ``TOKEN`` or ``SECRET``, any case) or was registered with
  :func:`register_secret_env` (the engine registers each ``api_key_env`` it uses);
* common key shapes: ``sk-...`` (OpenAI, Anthropic, OpenRouter), ``Bearer ...``,
  ``AIza...`` (Google), ``hf_...``, ``gsk_...``, ``xai-...``;
* credentials in a URL: its user information (``https://user:password@host`` becomes
  ``https://[REDACTED]@host``) and the values of query parameters named like a key
  (``?key=...``, ``api_key``, ``token``, ``access_token``, ``secret``, ``password``);
* in a dict, the whole value of a key named like a credential (``api_key``,
  ``authorization``, ``token``, ``secret``, ``password``).

Values shorter than 8 characters are never treated as secrets (they would match by chance).
The environment is read at each call, so a key set after import is still caught.
"""

from __future__ import annotations

import os
import re
from typing import Any

__all__ = ["REDACTED", "redact", "register_secret_env", "secret_values"]

REDACTED = "[REDACTED]"
MIN_SECRET_LENGTH = 8

_SECRET_NAME = re.compile(r"(API_?KEY|TOKEN|SECRET)$", re.IGNORECASE)
_SECRET_FIELD = re.compile(
    r"^(api[_-]?key|x-api-key|authorization|.*token|.*secret|password)$", re.IGNORECASE
)
_SHAPES = [
    (re.compile(r"Bearer\s+[A-Za-z0-9._~+/=\-]{4,}"), "Bearer " + REDACTED),
    (re.compile(r"\bsk-[A-Za-z0-9_\-]{8,}"), REDACTED),
    (re.compile(r"\bAIza[0-9A-Za-z_\-]{20,}"), REDACTED),
    (re.compile(r"\b(?:hf|gsk)_[A-Za-z0-9]{16,}"), REDACTED),
    (re.compile(r"\bxai-[A-Za-z0-9]{16,}"), REDACTED),
    (re.compile(r"(?<=://)[^/@\s]+@"), REDACTED + "@"),
    (
        re.compile(
            r"""(?i)([?&](?:api[_-]?key|key|(?:access_)?token|secret|password)=)[^&#\s'"]+"""
        ),
        r"\1" + REDACTED,
    ),
]
_registered: set[str] = set()


def register_secret_env(name: str) -> None:
    """Treat the value of environment variable ``name`` as a secret from now on."""
    _registered.add(name)


def secret_values() -> list[str]:
    """The current values of the secret-looking and registered environment variables,
    longest first (so a key that contains another is replaced whole)."""
    values = {
        value
        for name, value in os.environ.items()
        if (name in _registered or _SECRET_NAME.search(name)) and len(value) >= MIN_SECRET_LENGTH
    }
    return sorted(values, key=len, reverse=True)


def redact(value: Any, _secrets: list[str] | None = None) -> Any:
    """``value`` with every secret replaced by ``[REDACTED]`` (strings, and recursively the
    values of dicts, lists and tuples; anything else is returned unchanged)."""
    secrets = secret_values() if _secrets is None else _secrets
    if isinstance(value, str):
        for secret in secrets:
            if secret in value:
                value = value.replace(secret, REDACTED)
        for pattern, replacement in _SHAPES:
            value = pattern.sub(replacement, value)
        return value
    if isinstance(value, dict):
        return {
            k: REDACTED
            if isinstance(k, str) and _SECRET_FIELD.match(k) and isinstance(v, str) and v
            else redact(v, secrets)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact(v, secrets) for v in value]
    if isinstance(value, tuple):
        return tuple(redact(v, secrets) for v in value)
    return value
