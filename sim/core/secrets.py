"""Keep API keys out of configs, transcripts, logs, caches, folder names and error messages.

The one redaction of the package, in :mod:`sim.core` so that every layer uses it (the
writers of :mod:`sim.io` included). :func:`redact` replaces, in a string or recursively in
a dict, list or tuple:

* the current value of every environment variable whose name looks like a secret (ends in
  ``API_KEY``, ``TOKEN`` or ``SECRET``, any case) or was registered with
  :func:`register_secret_env` (the engine registers each ``api_key_env`` it uses);
* common key shapes: ``sk-...`` (OpenAI, Anthropic, OpenRouter), ``Bearer ...``,
  ``AIza...`` (Google), ``hf_...``, ``gsk_...``, ``xai-...``;
* credentials in a URL: its user information (``https://user:password@host`` becomes
  ``https://[REDACTED]@host``) and the values of query parameters named like a key
  (``?key=...``, ``api_key``, ``token``, ``access_token``, ``secret``, ``password``);
* in a dict, the whole value of a key named like a credential (``api_key``,
  ``authorization``, ``token``, ``secret``, ``password``), and of ``api_key_env`` when it
  is not a variable's name (:data:`ENV_NAME`): then it is likely the key itself.

Values shorter than 8 characters are never treated as secrets (they would match by chance).
The environment is read at each call, so a key set after import is still caught.

**Credentials in a URL** (``llm.api_base``) are taken out before a config is composed:
:func:`take_out` replaces each in the command line's overrides with ``[REDACTED]`` (the
URL reads as :func:`redact` shows it) and keeps the URL whole in environment variable
:data:`CREDENTIALS_ENV` of this process, which the jobs of a sweep inherit (the Ray
launcher hands it to its workers). So no config holds it, nor any file Hydra saves from
one. :func:`credential_for` finds it again at the model call; it is sent as the provider
expects: user information whose user is empty or names a key (``apikey``, ``api_key``,
``key``, ``token``, ``bearer``), or that has no password (``https://KEY@host``), is the
API key; any other ``user:password`` is an HTTP Basic ``Authorization`` header; a query
parameter named like a key is the API key, and left off the URL.
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from sim.core.errors import ConfigError

__all__ = [
    "CREDENTIALS_ENV",
    "ENV_NAME",
    "REDACTED",
    "Credential",
    "check_no_secrets",
    "credential_for",
    "redact",
    "redact_item",
    "redact_override",
    "register_secret_env",
    "secret_values",
    "take_out",
]

REDACTED = "[REDACTED]"
MIN_SECRET_LENGTH = 8

#: The name of an environment variable as ``api_key_env`` takes it: upper case, digits and
#: ``_`` (by convention; a key, of mixed case or with ``-``, does not pass for one).
ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
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

CREDENTIALS_ENV = "PEERSIM_LLM_CREDENTIALS"
_KEY_PARAM = re.compile(r"(?i)^(api[_-]?key|key|(access_)?token|secret|password)$")
_KEY_USER = re.compile(r"(?i)^(api[_-]?key|key|token|bearer)?$")
#: A URL in an override: it ends where Hydra's grammar ends a value (unless quoted).
_URL = re.compile(r"""[A-Za-z][A-Za-z0-9+.\-]*://[^\s,'"()\[\]]+""")


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
    for url in _credentials().values():
        taken = _split(url)[1]
        basic = taken.basic or ""
        password, encoded = basic.partition(":")[2], _base64(basic) if basic else ""
        for value in (taken.api_key, basic, password, encoded):
            if value and len(value) >= MIN_SECRET_LENGTH:
                values.add(value)
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
        return {k: redact_item(k, v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v, secrets) for v in value]
    if isinstance(value, tuple):
        return tuple(redact(v, secrets) for v in value)
    return value


def redact_item(key: object, value: Any, _secrets: list[str] | None = None) -> Any:
    """``value`` as shown under ``key`` (a name, or a dotted config key): wholly
    ``[REDACTED]`` when the key's last part names a credential (``api_key``, ``token``...),
    or is ``api_key_env`` and the value is no variable's name, and the value is a non-empty
    string; else :func:`redact` of it."""
    name = key.rpartition(".")[2] if isinstance(key, str) else ""
    credential = _SECRET_FIELD.match(name) or (
        name == "api_key_env" and isinstance(value, str) and not ENV_NAME.match(value)
    )
    if credential and isinstance(value, str) and value:
        return REDACTED
    return redact(value, _secrets)


def redact_override(override: str) -> str:
    """A Hydra override string ``key=value`` as shown: its value through :func:`redact_item`."""
    key, equals, value = override.partition("=")
    if not equals:
        return redact(override)
    return f"{key}={redact_item(key.lstrip('+~'), value)}"


def check_no_secrets(config: Any, prefix: str = "") -> None:
    """Refuse a config (plain nested dicts and lists) any string value of which holds a
    secret (what :func:`redact` would hide): it would be saved with the run.

    Raises:
        ConfigError: naming the first such key, the value shown redacted.
    """
    if isinstance(config, dict):
        for name, value in config.items():
            check_no_secrets(value, f"{prefix}{name}.")
    elif isinstance(config, list | tuple):
        for i, value in enumerate(config):
            check_no_secrets(value, f"{prefix}{i}.")
    elif isinstance(config, str) and redact(config) != config:
        raise ConfigError(
            f"{prefix[:-1]}: holds a secret, which would be saved with the run (give a key "
            f"through llm.api_key_env, or a credential inside llm.api_base on the command "
            f"line, where it is taken out), got {redact(config)!r}"
        )


@dataclass(frozen=True)
class Credential:
    """A credential taken out of a URL: ``url`` without it, and how it is sent."""

    url: str
    api_key: str | None = None
    basic: str | None = None  # "user:password", sent as HTTP Basic

    def headers(self) -> dict[str, str]:
        """The request headers that carry the credential (none for an API key)."""
        return {"Authorization": "Basic " + _base64(self.basic)} if self.basic else {}


def _base64(userinfo: str) -> str:
    return base64.b64encode(userinfo.encode()).decode()


def _split(url: str) -> tuple[str, Credential]:
    """``url`` as shown (its credential ``[REDACTED]``) and its :class:`Credential`
    (without one: ``url`` itself, and a credential of the URL alone)."""
    parts = urlsplit(url)
    userinfo, at, host = parts.netloc.rpartition("@")
    kept, shown, keys = [], [], []
    for item in parts.query.split("&") if parts.query else ():
        name, eq, value = item.partition("=")
        if eq and value and _KEY_PARAM.match(name):
            keys.append(unquote(value))
            shown.append(f"{name}={REDACTED}")
        else:
            kept.append(item)
            shown.append(item)
    if (at and keys) or len(keys) > 1:
        raise ConfigError(
            f"llm.api_base: carries more than one credential (give one), got {redact(url)!r}"
        )
    netloc = host if at else parts.netloc
    clean = urlunsplit(parts._replace(netloc=netloc, query="&".join(kept)))
    shown_url = urlunsplit(
        parts._replace(netloc=f"{REDACTED}@{host}" if at else netloc, query="&".join(shown))
    )
    user, colon, password = (unquote(p) for p in userinfo.partition(":"))
    if keys:
        return shown_url, Credential(clean, api_key=keys[0])
    if not at:
        return shown_url, Credential(clean)
    if not colon or _KEY_USER.match(user):
        return shown_url, Credential(clean, api_key=password if colon else user)
    return shown_url, Credential(clean, basic=f"{user}:{password}")


def _credentials() -> dict[str, str]:
    return json.loads(os.environ.get(CREDENTIALS_ENV) or "{}")


def take_out(overrides: Sequence[str]) -> list[str]:
    """``overrides`` (Hydra's override strings) with the credential of every URL in them
    replaced by ``[REDACTED]``, the URL kept whole in :data:`CREDENTIALS_ENV`.

    Raises:
        ConfigError: for a URL with two credentials, or two URLs that differ only in theirs.
    """
    table = _credentials()

    def replace(match: re.Match) -> str:
        url = match.group(0)
        shown = _split(url)[0]
        if shown == url:
            return url
        if table.setdefault(shown, url) != url:
            raise ConfigError(
                f"llm.api_base: two URLs differ only in their credentials, got {shown!r}"
            )
        quoted = match.start() > 0 and match.string[match.start() - 1] in "'\""
        return shown if quoted else f"'{shown}'"  # "[" and "=" need quotes in Hydra's grammar

    taken = [_URL.sub(replace, override) for override in overrides]
    if table:
        os.environ[CREDENTIALS_ENV] = json.dumps(table)
    return taken


def credential_for(url: str) -> Credential | None:
    """The credential taken out of ``url`` (as a config holds it, ``[REDACTED]`` in place),
    or None when ``url`` had none.

    Raises:
        ConfigError: when it had one that this process does not know (a config saved by
            an earlier command, say).
    """
    if REDACTED not in url:
        return None
    whole = _credentials().get(url)
    if whole is None:
        raise ConfigError(
            f"llm.api_base: its credential was taken out of the config and is not known to "
            f"this process (give the URL with its credential on the command line), got {url!r}"
        )
    return _split(whole)[1]
