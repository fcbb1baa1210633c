"""The ``llm`` parameter group: which language model decides, and how calls are made."""

from __future__ import annotations

from dataclasses import dataclass

from sim.core.schema import Config
from sim.core.secrets import ENV_NAME, REDACTED

__all__ = ["LLMConfig"]


@dataclass
class LLMConfig(Config):
    """How the ``llm`` engine reaches its model (used when ``engine.kind`` is ``llm``).

    ``model`` is ``fake`` (a deterministic offline model that ships with the package) or any
    litellm model string (``openai/gpt-4o-mini``, ``anthropic/claude-...``, or ``openai/<name>``
    with ``api_base`` for a local OpenAI-compatible server). The API key is read at call time
    from the environment variable *named* by ``api_key_env``; the key itself is never part of a
    config, output, log or transcript. A credential inside ``api_base``
    (``http://user:password@host/v1``, ``?key=...``) is taken out before the config is composed
    and sent as the provider expects (:mod:`sim.core.secrets`); it cannot be combined with
    ``api_key_env``. Budgets cap one run (0 = no cap); a call that would pass a cap is not made
    and its decision is classified ``budget_exceeded``. A transient error (rate limit, server
    error, timeout) is retried up to ``retries`` times, waiting ``backoff`` seconds, doubling
    each time. ``cache`` keeps every completion on disk under ``cache_dir``, so a replayed run
    makes no calls. An answer over ``max_answer_bytes`` bytes is cut there, unread, and its
    decision classified ``rejected_answer`` (never retried). One answer is at most
    ``max_output_tokens`` tokens (the provider stops there); ``tool_choice`` tells the
    model whether it may (``auto``), must (``required``) or must not (``none``) call a tool.
    ``tool_protocol`` offers the tools as the request's ``tools`` (``native``), described in
    the prompt with calls written as JSON in the answer (``text``, for servers that ignore
    ``tools``), or native until the server is seen to drop them, then text (``auto``).
    ``verbose`` shows litellm's log lines per call. ``system_role`` ``user`` sends the
    system prompt at the head of the first user message, for chat templates that drop
    system messages (llama-cpp-python's ``gemma`` format). ``dry_run`` plays the run with the
    offline fake in place of the model and reports the calls, tokens and (from litellm's local
    price list) cost the real model would take. Before a run on a real model, its key variable
    is checked and, unless ``preflight`` is false (behind a proxy, say), its server is checked
    to accept a connection
    (:mod:`sim.engines.llm.preflight`). A run whose share of decisions that ended in an error
    (after retries) is above ``max_error_rate`` fails, without its ``done`` marker
    (:mod:`sim.engines.llm.error_rate`).

    ``mode`` ``exact`` plays every decision; ``amortised`` plays a decision only while its
    context has fewer than ``samples_per_context`` valid episodes in the store of played
    episodes (``episodes.sqlite`` under ``cache_dir``) and otherwise draws its outcome from
    the stored ones (:mod:`sim.engines.llm.amortised`). ``warmup`` (amortised only) plays
    every context the run can need up to ``samples_per_context`` before the first step.
    """

    GROUP = "llm"
    model: str = "fake"
    api_base: str | None = None
    api_key_env: str | None = None
    temperature: float = 0.0
    max_turns: int = 12
    concurrency: int = 16
    retries: int = 3
    backoff: float = 0.5
    timeout: float = 60.0
    max_calls: int = 0
    max_tokens: int = 0
    max_cost: float = 0.0
    max_answer_bytes: int = 1_000_000
    max_output_tokens: int = 512
    tool_choice: str = "auto"
    tool_protocol: str = "auto"
    verbose: bool = False
    system_role: str = "system"
    cache: bool = True
    cache_dir: str = "outputs/llm_cache"
    fake_protect_rate: float = 0.3
    dry_run: bool = False
    preflight: bool = True
    max_error_rate: float = 0.05
    mode: str = "exact"
    samples_per_context: int = 20
    warmup: bool = False

    def validate(self) -> None:
        if not self.model.strip():
            self.fail("model", "must name a model (fake, or a litellm model string)")
        if self.api_key_env is not None and not ENV_NAME.match(self.api_key_env):
            self.fail(
                "api_key_env",
                "must be the NAME of an environment variable (A-Z, 0-9, _), not a key",
            )  # shown [REDACTED]: such a value is likely the key itself
        if self.api_key_env is not None and self.api_base and REDACTED in self.api_base:
            self.fail("api_key_env", "must be null when llm.api_base carries a credential")
        self.require_range("temperature", 0.0, 2.0)
        self.require_range("max_turns", 1, 100)
        self.require_range("concurrency", 1, 1024)
        self.require_range("retries", 0, 20)
        self.require_range("backoff", 0.0, 60.0)
        self.require_range("timeout", 0.001)
        self.require_range("max_calls", 0)
        self.require_range("max_tokens", 0)
        self.require_range("max_cost", 0.0)
        # Below 1 KB not even a short tool call fits; above 1 GB the cap protects nothing.
        self.require_range("max_answer_bytes", 1024, 1_000_000_000)
        # Below 16 tokens no tool call fits; the range admits any context window there is.
        self.require_range("max_output_tokens", 16, 10_000_000)
        self.require_choice("tool_choice", ("auto", "required", "none"))
        self.require_choice("system_role", ("system", "user"))
        self.require_choice("tool_protocol", ("native", "text", "auto"))
        self.require_range("fake_protect_rate", 0.0, 1.0)
        self.require_range("max_error_rate", 0.0, 1.0)
        self.require_choice("mode", ("exact", "amortised"))
        self.require_range("samples_per_context", 1, 100_000)
        if self.warmup and self.mode != "amortised":
            self.fail("warmup", "needs llm.mode=amortised (exact mode plays every decision)")
