"""Checks before a run on a real model: its key is there and its server answers.

Without them, a run whose model cannot work plays every decision into ``error`` and only
then fails (:mod:`sim.engines.llm.error_rate`). :func:`preflight` runs before anything is
built: the command line calls it for every run before Hydra creates a folder, and
:func:`sim.run` before running. It checks only the ``llm`` engine with a real model (not
``fake``), and not in a dry run, which calls nothing:

* **Key** (always): the variable ``llm.api_key_env`` names is set and not empty, and a
  credential taken out of ``llm.api_base`` is known to this process. Without
  ``api_key_env``, a server at ``llm.api_base`` needs no key (a placeholder is sent), and a
  hosted provider of :data:`PROVIDERS` needs one of the variables litellm reads for it.
* **Reachability** (skipped with ``llm.preflight=false``, e.g. behind a proxy or an offline
  resolver): a TCP connection, within :data:`TIMEOUT` seconds name resolution included, to
  the host and port of ``llm.api_base``, or else to the provider's public host on port 443.
  A provider not in :data:`PROVIDERS` is not checked. An endpoint reached less than
  :data:`RECENT` seconds ago is not checked again (a sweep checks each of its runs).

A failure is a :class:`~sim.core.errors.ConfigError` whose message starts with the key; a
URL in it goes through :func:`~sim.core.secrets.redact`, so credentials in it are not
shown. Only the variable's name is ever shown, never its value.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from urllib.parse import urlsplit

from sim.core.errors import ConfigError
from sim.core.llm_params import LLMConfig
from sim.core.params import EcosystemConfig
from sim.core.secrets import credential_for, redact

__all__ = ["PROVIDERS", "RECENT", "TIMEOUT", "check_key", "check_reachable", "preflight"]

#: Hosted providers (the prefix of ``llm.model``): public host, and the variables litellm
#: reads the key from when ``llm.api_key_env`` is not set.
PROVIDERS = {
    "openai": ("api.openai.com", ("OPENAI_API_KEY",)),
    "anthropic": ("api.anthropic.com", ("ANTHROPIC_API_KEY",)),
    "gemini": ("generativelanguage.googleapis.com", ("GEMINI_API_KEY", "GOOGLE_API_KEY")),
    "openrouter": ("openrouter.ai", ("OPENROUTER_API_KEY",)),
}
#: Seconds a reachability check may take, name resolution included.
TIMEOUT = 3.0
#: Seconds during which an endpoint reached once is taken as reachable.
RECENT = 60.0

_KEY_HINT = "export it, or choose llm=local / llm=fake"
_SKIP_HINT = "set llm.preflight=false to skip this check"
_reached: dict[tuple[str, int], float] = {}


def preflight(config: EcosystemConfig) -> None:
    """Check that the configured model can work before a run (see the module docstring).

    Raises:
        ConfigError: naming ``llm.api_key_env``, ``llm.api_base`` or ``llm.model``.
    """
    llm = config.llm
    if config.engine.kind != "llm" or llm.model == "fake" or llm.dry_run:
        return
    check_key(llm)
    if llm.preflight:
        check_reachable(llm)


def check_key(llm: LLMConfig) -> None:
    """Raise :class:`ConfigError` when the model's key variable is unset or empty, or
    the credential taken out of its ``api_base`` is not known to this process."""
    if llm.api_base:
        credential_for(llm.api_base)
    if llm.api_key_env:
        problem = _unset(llm.api_key_env)
        if problem:
            raise ConfigError(
                f"llm.api_key_env: environment variable {llm.api_key_env} {problem} ({_KEY_HINT})"
            )
        return
    provider = _provider(llm)
    if llm.api_base or provider not in PROVIDERS:
        return
    names = PROVIDERS[provider][1]
    if all(_unset(name) for name in names):
        raise ConfigError(
            f"llm.api_key_env: not set, and environment variable {' or '.join(names)}, which "
            f"litellm reads for {provider} models, is not set ({_KEY_HINT}, or set "
            f"llm.api_key_env to the variable that holds the key)"
        )


def check_reachable(llm: LLMConfig, seconds: float = TIMEOUT) -> None:
    """Raise :class:`ConfigError` when the model's server does not accept a connection."""
    if llm.api_base:
        shown = redact(llm.api_base)
        credential = credential_for(llm.api_base)
        parts = urlsplit(credential.url if credential else llm.api_base)
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:  # a port that is not a number, or out of range
            port = None
        if parts.scheme not in ("http", "https") or not parts.hostname or port is None:
            raise ConfigError(f"llm.api_base: {shown} is not an http(s) URL with a host and port")
        problem = _connect(parts.hostname, port, seconds)
        if problem:
            raise ConfigError(f"llm.api_base: {shown} is not reachable: {problem} ({_SKIP_HINT})")
        return
    provider = _provider(llm)
    if provider in PROVIDERS:
        host = PROVIDERS[provider][0]
        problem = _connect(host, 443, seconds)
        if problem:
            raise ConfigError(
                f"llm.model: {llm.model}: the {provider} API ({host}:443) is not reachable: "
                f"{problem} (offline, or behind a proxy? {_SKIP_HINT})"
            )


def _provider(llm: LLMConfig) -> str | None:
    """The provider prefix of a litellm model string (``openai/gpt-4o`` -> ``openai``)."""
    return llm.model.split("/", 1)[0] if "/" in llm.model else None


def _unset(name: str) -> str | None:
    """Why variable ``name`` holds no key (``is not set``, ``is empty``), or None."""
    value = os.environ.get(name)
    if value is None:
        return "is not set"
    return None if value.strip() else "is empty"


def _connect(host: str, port: int, seconds: float) -> str | None:
    """What stops a TCP connection to ``host:port`` within ``seconds``, or None."""
    if time.monotonic() - _reached.get((host, port), -RECENT) < RECENT:
        return None
    deadline = time.monotonic() + seconds
    try:
        addresses = _resolve(host, port, seconds)
    except TimeoutError:
        return f"name {host} not resolved within {seconds:g} s"
    except OSError as error:
        return f"name {host} not resolved ({error.strerror or error})"
    late = f"no answer from {host}:{port} within {seconds:g} s"
    problem = f"no address for {host}"
    for family, kind, proto, _, address in addresses:  # e.g. ::1, then 127.0.0.1
        left = deadline - time.monotonic()
        if left <= 0:
            return late
        try:
            with socket.socket(family, kind, proto) as sock:
                sock.settimeout(left)
                sock.connect(address)
        except TimeoutError:
            return late
        except ConnectionRefusedError:
            problem = f"connection refused at {host}:{port}"
        except OSError as error:
            problem = f"{error.strerror or error} at {host}:{port}"
        else:
            _reached[(host, port)] = time.monotonic()
            return None
    return problem


def _resolve(host: str, port: int, seconds: float) -> list:
    """``socket.getaddrinfo`` bounded by ``seconds`` (TimeoutError after): it has no timeout
    of its own, and a resolver with no network can block for much longer. The lookup runs
    in a daemon thread, which a timed-out lookup leaves behind without holding up exit."""
    found: list = []

    def lookup() -> None:
        try:
            found.append(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except OSError as error:
            found.append(error)

    thread = threading.Thread(target=lookup, name="preflight-resolve", daemon=True)
    thread.start()
    thread.join(seconds)
    if not found:
        raise TimeoutError(host)
    if isinstance(found[0], OSError):
        raise found[0]
    return found[0]
